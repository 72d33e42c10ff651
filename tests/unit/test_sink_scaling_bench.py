"""The scaling line of sink_bench (``--only scaling``): two cores against one on the stack's
cluster, from the runs' own figures."""

from __future__ import annotations

from pathlib import Path

from benchmarks.sink_bench import scaling_line


def run(rows_per_s: float, elapsed_s: float, **phases: float) -> dict:
    return {"rows_per_s": rows_per_s, "elapsed_s": elapsed_s, "writer_s": elapsed_s - 0.5,
            "to_arrow_s": phases.get("stage", 1.0), "load_s": phases.get("load", 0.5),
            "session_s": 20.0, "cpu": 1.5}


def test_the_ratio_is_two_cores_over_one_with_each_side_s_phases(tmp_path: Path) -> None:
    archive = tmp_path / "hoverboard-jobs.tar.gz"
    archive.write_bytes(b"x" * 2**20)
    runs = {1: [run(5_000, 10.0, stage=8.0), run(4_000, 12.5, stage=10.0),
                run(4_500, 11.1, stage=9.0)],
            2: [run(8_000, 6.25, stage=4.5), run(9_000, 5.6, stage=4.0),
                run(7_000, 7.1, stage=5.5)]}
    line = scaling_line(runs, 50_000, 6, "spark://127.0.0.1:7077", archive)
    assert (line["value"], line["baseline"], line["ratio"]) == (8_000, 4_500, 1.778)
    assert line["goal_met"] and line["runs"] == [8_000, 9_000, 7_000]
    assert line["phases_s"]["1_core"]["stage_on_executors"] == 9.0
    assert line["phases_s"]["2_cores"]["stage_on_executors"] == 4.5
    assert line["phases_s"]["2_cores"]["query_bookkeeping"] == 0.5
    assert "1 MiB" in line["cluster"]["code"]

    runs[2] = [run(4_000, 12.5)]  # no gain from the second core: said, not hidden
    assert not scaling_line(runs, 50_000, 6, "m", archive)["goal_met"]
