"""gunicorn settings of an ingest instance; every value can be overridden from the environment.

Threads, not more processes: a request spends almost all its time waiting for Kafka's
acknowledgement, and one producer per process batches the records of all its threads, so
a few processes with many threads keep many acknowledgements in flight at once.
2 workers x 32 threads was the best of 1-3 x 8-64 in benchmarks/ingest_bench.py (README).
"""

import os
import tempfile

bind = os.environ.get("HOVER_INGEST_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("HOVER_INGEST_WORKERS", "2"))
threads = int(os.environ.get("HOVER_INGEST_THREADS", "32"))
# One listening socket per worker: with gthread a worker keeps every keep-alive connection it
# accepted, and without this one worker was seen holding all of them (16 of 114 benchmark
# runs lost half their capacity that way; none of 18 with it).
reuse_port = True
# A request is bounded by ACK_TIMEOUT_S (5 s by default); a worker silent for much longer
# than that is stuck and gets replaced.
timeout = 30
graceful_timeout = 15
keepalive = 15
accesslog = None  # the app logs what matters, as JSON
errorlog = "-"
proc_name = os.environ.get("HOVER_INGEST_NAME", "hover-ingest")

# Metrics of all workers are aggregated through files in this directory.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="hover-ingest-prom-"))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_int(worker):
    # Deliver what is still queued before the worker goes away.
    state = getattr(worker.wsgi, "extensions", {}).get("hover_ingest")
    for sink in state.sinks.values() if state else ():
        sink.close()


def _lifecycle_alert(action: str, message: str) -> None:
    from alerts.document import Severity
    from alerts.emitter import AlertEmitter

    emitter = AlertEmitter.from_environment(
        "ingest_api", labels={"instance": os.environ.get("HOVER_INGEST_INSTANCE_NAME", "")})
    emitter.emit(action, message, Severity.INFO)
    emitter.close()


def when_ready(server):
    _lifecycle_alert("instance_started", f"ingest instance {proc_name} serving on {bind}")


def on_exit(server):
    _lifecycle_alert("instance_stopped", f"ingest instance {proc_name} stopped")
