"""The Structured Streaming sink: Kafka topics into warehouse tables, exactly once.

One job (``spark/sink_job.py``), started once per declared message type (``--type``; tuning
in ``spark/conf/sink.conf``). Transformations are small functions over DataFrames
(``spark/schema.py``, ``spark/transform.py``), tested on small DataFrames; I/O stays at the
edges (the Kafka source, the warehouse loader in ``foreachBatch``).
"""
