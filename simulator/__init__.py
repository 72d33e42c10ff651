"""A hoverboard fleet pushing its events to the ingest API: ``bin/simulate``.

N boards send telemetry about every 5 s, M customers their profile about every 30 s, and a
trip is posted when it ends; the values hang together (:mod:`simulator.model`). Events are
delivered over HTTP by :mod:`simulator.delivery`, paced by :mod:`simulator.runner`, shown by
:mod:`simulator.display`; ``python -m simulator`` is the command line.

Routing and ordering
--------------------
Every request carries ``X-Hover-Key``, the partition key text of its records
(``schemas.keys.key_text`` with the type's key fields: hoverboard ``17``, customer ``230``,
trip ``17|230``), so an NGINX balancer hashing on it sends a key to the same instance.

- One event per request (``--batch 1``): the header is the event's key.
- Batches (``--batch K``): a request holds one message type. It takes the oldest waiting event
  of its lane, then the following events of the same key (one board's telemetry), then, if
  there is room, events of other keys of the same type; the header carries the first record's
  key. All records share it whenever the lane held enough events of that key.
- What holds for order: each key is served by one lane, and a lane sends its next request only
  when the previous one is final, retries included. So a key's events are *acknowledged* in the
  order they were generated (per board, ``event_time`` increases), and Kafka, which keeps
  order per partition, stores the first copy of each in that order, whichever instance a
  mixed batch went through. Retries can add copies (a timeout after the API stored the event,
  or records re-sent behind a failed one of their key, see :mod:`simulator.delivery`);
  consumers keep one per natural key. Across keys there is no order.

Nothing is lost in an outage: 503 (and 502/504/429 from a balancer, connection errors,
timeouts) is retried with exponential backoff and jitter, never before ``Retry-After``, until
``--give-up-after``. Other 4xx are final ("rejected"); deliberately invalid events
(``--invalid-share``) are expected to get 422. The exit status is 0 only when every valid
event was accepted.
"""
