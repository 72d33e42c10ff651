"""WSGI entry point: ``gunicorn -c customer_web/gunicorn.conf.py customer_web.wsgi:app``."""

from customer_web import create_app
from ingest_api.logs import configure

configure(instance="customer_web")
app = create_app()
