"""WSGI entry point: ``gunicorn -c ingest_api/gunicorn.conf.py ingest_api.wsgi:app``."""

from ingest_api import create_app
from ingest_api.config import DefaultConfig
from ingest_api.logs import configure

configure(instance=DefaultConfig.INSTANCE_NAME)
app = create_app()
