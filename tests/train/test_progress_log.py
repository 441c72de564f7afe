"""Progress lines in the cell log, driven through StepLog as the cell runner drives them."""

from __future__ import annotations

import logging

import pytest
import torch

from bench.train.progress_log import ProgressLog, format_duration
from bench.train.steplog import StepLog


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _run(log: StepLog, clock: Clock, steps: range, every: int, seconds_per_step: float) -> None:
    for step in steps:
        clock.t += seconds_per_step
        log.add("main", {"loss": torch.tensor(float(step))})
        log.end_step(step)
        if (step + 1) % every == 0 or step + 1 == steps.stop:
            log.flush()


def test_lines_show_step_losses_rate_and_eta(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    progress = ProgressLog(100, every=2, min_interval_s=0, clock=clock)
    log = StepLog(None, sinks=[progress])
    with caplog.at_level(logging.INFO, logger="bench.progress"):
        _run(log, clock, range(100), every=10, seconds_per_step=0.5)
    lines = [r.getMessage() for r in caplog.records if r.name == "bench.progress"]
    # every 2nd flush of 10 steps: steps 20, 40, 60, 80, 100
    assert len(lines) == 5
    assert lines[0] == "step 20/100 (20%) | loss 9.5 | 2 steps/s | ETA 40s"  # mean of steps 0..19
    assert lines[1].startswith("step 40/100 (40%) | loss 29.5 | 2 steps/s | ETA 30s")
    assert lines[-1] == "step 100/100 (100%) | loss 89.5 | 2 steps/s"  # the last step always, no ETA


def test_at_most_one_line_per_interval_but_always_the_last_step(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = StepLog(None, sinks=[ProgressLog(50, start_step=10, min_interval_s=30, clock=clock)])
    with caplog.at_level(logging.INFO, logger="bench.progress"):
        _run(log, clock, range(10, 50), every=5, seconds_per_step=1.0)  # a resumed cell: steps 10..49
    lines = [r.getMessage() for r in caplog.records if r.name == "bench.progress"]
    # the first flush (step 15), then >= 30 s later (step 45), then the end (step 50)
    assert [ln.split(" |")[0] for ln in lines] == [
        "step 15/50 (30%)",
        "step 45/50 (90%)",
        "step 50/50 (100%)",
    ]
    assert "1 steps/s" in lines[0] and "ETA 35s" in lines[0]


def test_lines_can_also_go_to_a_stream_for_slurm_log() -> None:
    import io

    clock, out = Clock(), io.StringIO()
    log = StepLog(None, sinks=[ProgressLog(4, min_interval_s=0, clock=clock, stream=out, prefix="cell_a")])
    _run(log, clock, range(4), every=2, seconds_per_step=1.0)
    assert out.getvalue().splitlines() == [
        "cell_a: step 2/4 (50%) | loss 0.5 | 1 steps/s | ETA 2s",
        "cell_a: step 4/4 (100%) | loss 2.5 | 1 steps/s",
    ]


def test_durations_read_naturally() -> None:
    assert [format_duration(s) for s in (4.6, 122, 3 * 3600 + 7 * 60)] == ["5s", "2m 02s", "3h 07m"]
