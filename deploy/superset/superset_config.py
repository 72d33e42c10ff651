"""Superset settings for the compose deployment: metadata in the platform's PostgreSQL,
the secret key from the environment (never a default)."""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DATABASE_URI"]
