"""Evaluation on several processes: each generates its share of the samples, the features are gathered,
and one metric comes out, equal (within 1e-5) to a single-process evaluation with the same seeds."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

WORKER = """
import json, torch
from accelerate import Accelerator
from bench.config import EvalConfig
from bench.datasets import DATASETS, DataContext
from bench.eval.evaluate import domain, evaluate_samples
from bench.eval.generate import unconditional
from bench.models import MODELS

torch.set_num_threads(1)
acc = Accelerator(cpu=True)
src = DATASETS.get("digits")(DATASETS.get("digits").Args())
info, ctx = src.info(), DataContext.from_env()
train, test = src.load("train", ctx), src.load("test", ctx)
ext = domain(info, train, test, ctx.cache_dir.parent)
family = MODELS.get("mlp_gan")
torch.manual_seed(0)
model = family(family.Config(), info, 8)
model.nets = dict(zip(model.nets, acc.prepare(*model.nets.values())))
model.train(False)
# 100 samples in blocks of 16: 7 blocks, so the two processes get 4 and 3 (the last one short).
ev = EvalConfig(
    metrics=["fd", "kid", "coverage"], n_samples=100, batch_size=16, sample_block=16, kid_subset_size=50,
    kid_subsets=5,
)
scores, protocol, _ = evaluate_samples(
    unconditional(model), model.device, test, {"dataset": "digits", "split": "test"}, ev, list(ev.metrics),
    {"domain": ext}, ctx.cache_dir.parent, False, num_classes=10, accelerator=acc,
)
if acc.is_main_process:
    print("RESULT " + json.dumps({"processes": acc.num_processes, "scores": scores}))
"""


def _run(cmd: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])


def test_two_processes_give_the_single_process_metric(tmp_path: Path, capsys) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    runpy.run_path(str(script), run_name="__main__")  # one process, in this one
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("RESULT ")]
    one = json.loads(line[len("RESULT ") :])
    two = _run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    )
    assert (one["processes"], two["processes"]) == (1, 2)
    assert one["scores"].keys() == two["scores"].keys()
    for k, v in one["scores"].items():
        assert abs(two["scores"][k] - v) <= 1e-5 * max(1.0, abs(v)), k
