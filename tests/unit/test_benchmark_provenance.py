"""What a benchmark line says about how it was measured: the fixed rate it ran at, the
machine and the load generator."""

from __future__ import annotations

import orjson
import pytest

from benchmarks import common
from benchmarks.common import describe_machine, emit, wrk_label
from benchmarks.ingest_bench import RATE_SHARE, fixed_rate

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz
"""
MEMINFO = "MemTotal:       25165824 kB\nMemFree:         1000000 kB\n"


def test_the_fixed_rate_is_half_the_capacity_measured_in_the_same_run() -> None:
    assert RATE_SHARE == 0.5
    # The two days the README quotes: the same machine type, two different loads.
    assert fixed_rate(7470) == 3735
    assert fixed_rate(3081) == 1540  # rounded to whole requests per second
    assert fixed_rate(1.2) == 1  # never zero


@pytest.mark.parametrize("capacity", [0, -5, float("nan")])
def test_no_capacity_gives_no_rate(capacity) -> None:
    with pytest.raises(ValueError, match="no single-event capacity"):
        fixed_rate(capacity)


def test_machine_description_from_proc_files() -> None:
    assert describe_machine(cores=2, cpuinfo=CPUINFO, meminfo=MEMINFO,
                            kernel="Linux 6.1.0-27-cloud-amd64") == {
        "cores": 2, "cpu_model": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
        "memory_gib": 24.0, "kernel": "Linux 6.1.0-27-cloud-amd64"}


def test_machine_description_says_unknown_rather_than_guessing() -> None:
    # e.g. an ARM machine's cpuinfo has no "model name"; /proc unreadable gives "".
    assert describe_machine(cores=None, cpuinfo="processor\t: 0\nBogoMIPS\t: 50.00\n",
                            meminfo="", kernel="") == {
        "cores": None, "cpu_model": "unknown", "memory_gib": None, "kernel": "unknown"}


def test_wrk_version_from_its_banner() -> None:
    banner = ("wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer\n"
              "Usage: wrk <options> <url>\n")
    assert wrk_label(banner) == "wrk 4.1.0"
    assert wrk_label("") == "wrk (version unknown)"


def test_every_line_names_its_generator_and_machine(capsys, monkeypatch) -> None:
    machine = {"cores": 2, "cpu_model": "X", "memory_gib": 24.0, "kernel": "Linux 6"}
    monkeypatch.setattr(common, "machine", lambda: machine)
    emit({"bench": "single_event", "value": 2890}, generator="wrk 4.1.0")
    line = orjson.loads(capsys.readouterr().out)
    assert line == {"bench": "single_event", "value": 2890, "generator": "wrk 4.1.0",
                    "machine": machine}
    with pytest.raises(TypeError):
        emit({"bench": "single_event"})  # type: ignore[call-arg]  # no line without one
