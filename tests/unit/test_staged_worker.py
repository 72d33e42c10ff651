"""What ``loader.staged`` does to the executor's Python worker it runs in."""

from __future__ import annotations

import gc

from loader import staged
from schemas import latest


def test_a_worker_freezes_what_it_keeps_once_its_validator_is_compiled() -> None:
    """A reused worker's start-up objects and validator live as long as it does: frozen,
    the garbage collector's full collections no longer walk them on every task."""
    schema = latest("hoverboard").schema
    kept = dict(staged._VALIDATORS)
    staged._VALIDATORS.clear()
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        validator = staged._validator(schema)
        assert gc.get_freeze_count() > 0
        assert staged._validator(schema) is validator  # compiled once per worker
    finally:
        gc.unfreeze()  # this test process is no Spark worker
        staged._VALIDATORS.clear()
        staged._VALIDATORS.update(kept)
