"""Superset's settings, the same for the local stack (stack/services/superset.py) and the
compose deployment: metadata in the platform's PostgreSQL, the secret key from the
environment (never a default), the platform's own dashboards only (no examples)."""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_DATABASE_URI"]

# Dashboards open to the roles listed on them only (deploy/superset/access.py sets them):
# without it any user with one of a dashboard's datasets could open the dashboard.
FEATURE_FLAGS = {"DASHBOARD_RBAC": True}
# The security REST API (users, roles): the tests and operators manage users through it.
FAB_ADD_SECURITY_API = True
# Everything served from this machine: no map tiles, no telemetry, no calls out.
MAPBOX_API_KEY = ""
SCARF_ANALYTICS = False
# Rate limits on login (flask-limiter) would need a shared store across workers.
RATELIMIT_ENABLED = False
# Behind 127.0.0.1 only, without TLS: the session cookie cannot be "Secure".
SESSION_COOKIE_SECURE = False
TALISMAN_ENABLED = False
WTF_CSRF_ENABLED = True
