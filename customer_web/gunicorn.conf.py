"""gunicorn settings of the customer web app; values can be overridden from the environment.

One worker with threads: the sign-in rate limits count in the worker's memory
(RATELIMIT_STORAGE_URI=memory://), which is exact only in one process. A request waits on
PostgreSQL most of its time, which threads overlap well. Several workers or instances need a
shared limit store (HOVER_CUSTOMER_WEB_RATELIMIT_STORAGE_URI=redis://...).
"""

import os

bind = os.environ.get("HOVER_CUSTOMER_WEB_BIND", "127.0.0.1:8090")
worker_class = "gthread"
workers = 1
threads = int(os.environ.get("HOVER_CUSTOMER_WEB_THREADS", "8"))
timeout = 30
graceful_timeout = 10
keepalive = 15
accesslog = None  # the app logs what matters, as JSON
errorlog = "-"
proc_name = "hover-customer-web"


def _lifecycle_alert(action: str, message: str) -> None:
    from alerts.document import Severity
    from alerts.emitter import AlertEmitter

    emitter = AlertEmitter.from_environment("customer_web")
    emitter.emit(action, message, Severity.INFO)
    emitter.close()


def when_ready(server):
    _lifecycle_alert("app_started", f"customer web app serving on {bind}")


def on_exit(server):
    _lifecycle_alert("app_stopped", "customer web app stopped")
