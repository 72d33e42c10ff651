"""gunicorn settings of an ingest instance; every value can be overridden from the environment.

gevent workers: a request spends almost all its time waiting for Kafka's acknowledgement,
and a greenlet waits for a fraction of what a thread costs (no OS thread switches, no GIL
hand-offs between request threads and the producer's poll thread). One producer per worker
batches the records of all its requests. One worker per core: in benchmarks/ingest_bench.py
(``--only tuning``, README) two gevent workers on two cores served 9-20 % more requests/s
than one and gthread workers were slower at the same p99. A third gevent worker added 5 %
in one measurement (with a worse p99) and 19 % in another, which the benchmark's rule does
not count beyond its noise. The local stack runs several instances of one worker each.
``HOVER_INGEST_WORKER_CLASS=gthread`` (with HOVER_INGEST_THREADS) is the threaded alternative.
"""

import os
import tempfile

bind = os.environ.get("HOVER_INGEST_BIND", "127.0.0.1:8000")
worker_class = os.environ.get("HOVER_INGEST_WORKER_CLASS", "gevent")
workers = int(os.environ.get("HOVER_INGEST_WORKERS") or os.cpu_count() or 1)
# Concurrent requests per gevent worker; beyond it, connections wait in the listen backlog.
worker_connections = int(os.environ.get("HOVER_INGEST_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("HOVER_INGEST_THREADS", "32"))  # gthread only
# One listening socket per worker: with several workers, one was seen holding every
# keep-alive connection (16 of 114 gthread benchmark runs lost half their capacity that way;
# none of 18 with it).
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


def on_starting(server):
    if worker_class == "gevent":
        # Patch in the master before anything imports urllib3 or aiohttp (its lifecycle
        # alerts do, and workers inherit them): patched later, as gunicorn's worker does,
        # they keep unpatched, blocking ssl references (gevent issue 1016). A hook, not the
        # module level, so that reading this file (benchmarks do) patches nothing.
        from gevent import monkey

        monkey.patch_all()


def post_worker_init(worker):
    # The app's ~200k start-up objects live as long as the worker; a full garbage
    # collection walking them took ~35 ms (gc_pause in benchmarks.ingest_bench), during
    # which a gevent worker answers nobody. Frozen, they are skipped (~0 ms).
    import gc

    gc.freeze()


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
