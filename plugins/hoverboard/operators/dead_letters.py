"""Operator listing, replaying or discarding dead letters (``platform.dead_letters``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from hoverboard.hooks.warehouse import DEFAULT_CONN_ID

ACTIONS = ("list", "replay", "discard")


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


class DeadLetterOperator(BaseOperator):
    """List, replay or discard the selected dead letters in the warehouse.

    The work is :class:`hoverboard.dead_letters.service.DeadLetterService`'s, on the loader
    of :class:`hoverboard.hooks.dead_letters.DeadLetterHook` (the streaming sink's loader,
    so a replay loads as the sink does). Returns one summary per letter, with the records'
    values masked in the reasons (``bin/dead-letters show`` prints a whole letter). A replay
    or discard that leaves a selected letter undone (it failed again, was not pending, or
    does not exist) fails the task, after every other letter was handled: retrying would
    not change it.

    :param action: ``list``, ``replay`` or ``discard``.
    :param letters: letters by ``topic:partition:offset``, separated by spaces or commas.
    :param query: only letters of this sink query (``query_name``).
    :param topic: only letters from this Kafka topic.
    :param since: only letters dead-lettered since then: ``24h``, ``7d``, or a date/time.
    :param error: only letters whose reason contains this text (case-insensitive).
    :param status: ``pending``, ``replayed``, ``discarded``; empty: pending (list: any
        status when letters are named).
    :param replay_all: replay or discard every pending letter when nothing else narrows
        the selection (without it, such a run is refused).
    :param reason: why the letters are discarded (required for ``discard``; kept).
    :param schema_version: validate replays with this version of the schema (``latest``).
    :param message_type: the letters' message type if no sink config names their query.
    :param limit: at most this many letters, oldest first.
    :param conn_id: Airflow connection of the warehouse (type ``postgres`` or ``redshift``).
    """

    template_fields: Sequence[str] = ("action", "letters", "query", "topic", "since", "error",
                                      "status", "replay_all", "reason", "schema_version",
                                      "message_type", "limit", "conn_id")
    ui_color = "#f5e3d8"

    def __init__(self, *, action: str = "list", letters: str | Sequence[str] = "",
                 query: str = "", topic: str = "", since: str = "", error: str = "",
                 status: str = "", replay_all: bool | str = False, reason: str = "",
                 schema_version: str | int = "latest", message_type: str = "",
                 limit: int | str = 1000, conn_id: str = DEFAULT_CONN_ID,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.action = action
        self.letters = letters
        self.query = query
        self.topic = topic
        self.since = since
        self.error = error
        self.status = status
        self.replay_all = replay_all
        self.reason = reason
        self.schema_version = schema_version
        self.message_type = message_type
        self.limit = limit
        self.conn_id = conn_id

    @cached_property
    def hook(self):
        from hoverboard.hooks.dead_letters import DeadLetterHook

        return DeadLetterHook(self.conn_id)

    def selection(self):
        from hoverboard.dead_letters.letters import LetterId, Selection, parse_since

        named = self.letters if not isinstance(self.letters, str) else \
            re.split(r"[\s,]+", self.letters.strip())
        return Selection(
            letters=tuple(LetterId.parse(text) for text in named if text.strip()),
            query=self.query.strip() or None, topic=self.topic.strip() or None,
            since=parse_since(self.since) if str(self.since).strip() else None,
            error=self.error.strip() or None, status=self.status.strip() or None,
            limit=int(self.limit))

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from airflow.sdk.exceptions import AirflowFailException

        from hoverboard.dead_letters.letters import public_reason

        if self.action not in ACTIONS:
            raise AirflowFailException(f"action {self.action!r}: expected one of {ACTIONS}")
        try:
            selection = self.selection()
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from exc
        if self.action != "list" and not selection.narrowed and not _flag(self.replay_all):
            raise AirflowFailException(
                f"{self.action} of every pending letter: set the param replay_all, or name "
                f"letters or filter them (query, topic, since, error)")
        ti = context["ti"]
        service = self.hook.service(handled_by=f"airflow:{ti.dag_id}/{ti.run_id}",
                                    message_type=self.message_type.strip() or None)
        try:
            if self.action == "list":
                if selection.status is None and not selection.letters:
                    selection = replace(selection, status="pending")
                found = service.list(selection)
                summary = [{"letter": str(letter.id), "query": letter.query_name,
                            "status": letter.status, "attempts": letter.attempts,
                            "loaded_at": letter.loaded_at.isoformat(),
                            "reason": public_reason(letter.reason)} for letter in found]
                for item in summary:
                    self.log.info("%(letter)s %(status)s (%(attempts)d tries): %(reason)s", item)
                self.log.info("%d letter(s)", len(summary))
                return summary
            try:
                if self.action == "replay":
                    version = self.schema_version if str(self.schema_version) == "latest" \
                        else int(self.schema_version)
                    outcomes = service.replay(selection, schema_version=version)
                else:
                    outcomes = service.discard(selection, reason=self.reason)
            except ValueError as exc:
                raise AirflowFailException(str(exc)) from exc
        finally:
            self.hook.close()
        summary = [outcome.as_dict() for outcome in outcomes]
        for item in summary:
            self.log.info("%(letter)s %(result)s %(table)s: %(reason)s", item)
        undone = [item for item, outcome in zip(summary, outcomes, strict=True) if not outcome.ok]
        if undone:
            raise AirflowFailException(
                f"{len(undone)} of {len(outcomes)} letter(s) not {self.action}ed: "
                + "; ".join(f"{i['letter']} {i['result']} ({i['reason']})" for i in undone[:20]))
        self.log.info("%d letter(s) %sed", len(outcomes), self.action)
        return summary
