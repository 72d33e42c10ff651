"""Airflow's supervision of the Spark Structured Streaming sink jobs.

A streaming job never ends, while ``SparkSubmitOperator`` blocks until its application
does (and Spark standalone cannot run Python drivers in cluster mode). So Airflow does not
*run* the jobs: it starts each one detached from the task (:mod:`.launcher`) and checks
them periodically (:mod:`.supervisor`):

* :mod:`.registry` — the jobs: one per declared message type (``spark/conf/sink.conf``);
* :mod:`.launcher` — start (spark-submit built by the provider's ``SparkSubmitHook``, run
  as a detached process), is-it-running, stop;
* :mod:`.state` — the warehouse side: the sinks' progress (``platform.stream_progress``)
  and the supervisor's own memory (``platform.stream_job_events``);
* :mod:`.policy` — the decision, a pure function: start, stop-and-restart, or leave alone;
  which alerts to raise;
* :mod:`.supervisor` — one round: observe every job, decide, act, alert, report.
"""
