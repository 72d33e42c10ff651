"""Dead letters fixed and replayed: ``bin/dead-letters`` and the ``dead_letter_replay`` DAG.

A record the streaming sink could not load is kept in ``platform.dead_letters`` with its
raw bytes and the reason. After a fix (a new schema version, a widened warehouse column,
or an operator's corrected value) it is replayed through the same path as the sink's
(validator, table mapping, loader with its merge on the natural key), or discarded with a
reason that is kept.
"""
