"""What the simulator shows: a live table on a terminal, a plain line every few seconds
otherwise (logs, CI), and the final summary as text."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from simulator.delivery import Stats

RATE_WINDOW_S = 5.0


class Progress:
    """Progress of a run, refreshed from :class:`Stats`; ``start`` in the event loop."""

    def __init__(self, stats: Stats, *, stream: TextIO, interval: float = 5.0,
                 enabled: bool = True, live: bool | None = None) -> None:
        self.stats = stats
        self.stream = stream
        self.interval = interval
        self.enabled = enabled
        self.live = stream.isatty() if live is None else live
        self._samples: deque[tuple[float, int]] = deque()
        self._live: Live | None = None
        self._task: asyncio.Task | None = None

    def rate(self) -> float:
        """Events settled per second over the last few seconds."""
        now, done = time.monotonic(), self.stats.done
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        then, before = self._samples[0]
        return (done - before) / (now - then) if now > then else 0.0

    def snapshot(self) -> dict[str, Any]:
        s = self.stats
        return {"elapsed": s.elapsed(), "sent": s.sent, "accepted": s.accepted.total(),
                "rejected": s.rejected.total(), "failed": s.failed.total(),
                "retried": s.retried, "in_flight": s.in_flight, "queued": s.queued,
                "rate": self.rate(), "sim_s": s.last_sim_ms / 1000}

    def line(self) -> str:
        n = self.snapshot()
        return (f"[{n['elapsed']:8.1f}s] sent {n['sent']} accepted {n['accepted']} "
                f"rejected {n['rejected']} failed {n['failed']} retried {n['retried']} "
                f"in-flight {n['in_flight']} queued {n['queued']} {n['rate']:.1f} events/s "
                f"(fleet time +{n['sim_s']:.0f}s)")

    def table(self) -> Table:
        n = self.snapshot()
        table = Table(title="hoverboard fleet simulator", title_justify="left",
                      show_header=False, min_width=36)
        table.add_column("what")
        table.add_column("value", justify="right", no_wrap=True)
        for label, value in (
            ("elapsed", f"{n['elapsed']:.1f} s"),
            ("sent", str(n["sent"])),
            ("accepted", f"[green]{n['accepted']}"),
            ("rejected", f"[yellow]{n['rejected']}"),
            ("failed after retries", f"[red]{n['failed']}"),
            ("retried", str(n["retried"])),
            ("in flight", str(n["in_flight"])),
            ("queued", str(n["queued"])),
            ("events/s", f"{n['rate']:.1f}"),
            ("fleet time", f"+{n['sim_s']:.0f} s"),
        ):
            table.add_row(label, value)
        return table

    def start(self) -> None:
        if not self.enabled:
            return
        self._samples.append((self.stats.started, 0))
        if self.live:
            console = Console(file=self.stream)
            self._live = Live(get_renderable=self.table, console=console,
                              refresh_per_second=4, transient=False)
            self._live.start()
        else:
            self._task = asyncio.get_running_loop().create_task(self._lines())

    async def _lines(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            print(self.line(), file=self.stream, flush=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
        if self._task is not None:
            self._task.cancel()


def _count_lines(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} ×{n}" for reason, n in counts.items()) or "none"


def format_summary(summary: dict[str, Any]) -> str:
    """The JSON summary as text for people."""
    s = summary
    lines = [
        f"Simulated {s['boards']} boards and {s['customers']} customers against {s['url']} "
        f"(run {s['run_id']}, seed {s['seed']}, fleet time from {s['start']}, "
        f"+{s['simulated_s']:.0f} s)",
        f"{'':12}{'generated':>10}{'accepted':>10}{'rejected':>10}{'failed':>10}",
    ]
    for mtype, row in s["by_type"].items():
        lines.append(f"  {mtype:10}{row['generated']:>10}{row['accepted']:>10}"
                     f"{row['rejected']:>10}{row['failed']:>10}")
    lines.append(f"  {'total':10}{s['generated']:>10}{s['accepted']:>10}{s['rejected']:>10}"
                 f"{s['failed_after_retries']:>10}")
    lines.append(f"Invalid on purpose: {s['invalid']} ({s['invalid_rejected']} rejected, "
                 f"{s['invalid_accepted']} accepted); valid rejected: {s['valid_rejected']}")
    lines.append(f"Rejected by reason: {_count_lines(s['rejected_by_reason'])}")
    lines.append(f"Failed after retries: {s['failed_after_retries']} "
                 f"({_count_lines(s['failed_by_reason'])}); abandoned: {s['abandoned']}")
    latency = s["latency_ms"]
    latency_text = (f"; latency p50 {latency['p50']} ms, p95 {latency['p95']} ms, "
                    f"p99 {latency['p99']} ms" if latency else "")
    lines.append(f"Retried {s['retried']} times, redelivered {s['redelivered']}; "
                 f"{s['requests']} requests in {s['duration_s']:.1f} s, "
                 f"{s['rate_eps']} events/s{latency_text}")
    if s["faulty_boards"]:
        faults = ", ".join(f"{f['id']} {f['fault']} from {f['onset']}" for f in s["faulty_boards"])
        lines.append(f"Faulty boards: {faults}")
    if s["ok"]:
        lines.append("OK: every valid event was accepted")
    else:
        lines.append(f"NOT OK: {s['valid_not_stored']} valid events were not stored")
    return "\n".join(lines)
