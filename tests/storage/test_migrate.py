"""result.json: older forms upgraded on read (bench.storage.migrate), typed protocol and training
record (bench.storage.records) that write back exactly what they read."""

from __future__ import annotations

import json
from pathlib import Path

from bench import fs
from bench.storage.cell_dir import CellDir
from bench.storage.records import EvalProtocol, TrainRecord
from bench.storage.result import CellResult, CellStatus

CURRENT = {
    "status": "done",
    "reason": None,
    "cell_id": "mlp_vae-digits-z8-s0-1a2b",
    "model": "mlp_vae",
    "dataset": "digits",
    "latent_size": 8,
    "seed": 0,
    "group": "g1",
    "model_label": "mlp_vae",
    "dataset_label": "digits",
    "metrics": {"fd_digits": 3.5, "fd_digits_ema": 3.25, "kid_digits": None},
    "protocol": {
        "real_split": "digits/test",
        "n_generated": 1000,
        "extractor": "domain:digits",
        "feature_layer": "penultimate",  # an extractor's fact: not a typed field, kept
        "fingerprint": "00aa11bb",
        "fingerprints": {"fd_digits": "1a2b3c4d", "fd_digits_ema": "1a2b3c4d-ema"},
        "eval_repeats": {"seeds": [0, 1], "values": {"fd_digits": [3.0, 4.0]}},
        "ema": {"decay": 0.999, "start": 100, "nets": ["net"]},
        "reproduce": "bench eval --fake out/cell",
    },
    "train": {"steps": 40, "resumed_from": 16, "seconds": 2.5, "lr_scale": 1.0, "cudnn_benchmark": False},
    "cost": None,
    "num_parameters": 1234,
    "versions": {"torch": "2.4"},
    "wall_seconds": 3.0,
    "finished": "2026-01-01T00:00:00+00:00",
    "host": "h",
    "slurm_job_id": None,
    "log": "cell.log",
    "log_tail": [],
    "previous_evaluations": [{"protocol": {}, "metrics": {}, "finished": None}],
}


def test_a_current_result_is_written_back_byte_for_byte(tmp_path: Path) -> None:
    fs.atomic_write_json(tmp_path / "result.json", CURRENT)
    before = (tmp_path / "result.json").read_text()
    cell = CellDir(tmp_path)
    result = cell.read_result()
    cell.write_result(result)
    assert (tmp_path / "result.json").read_text() == before


def test_the_protocol_and_training_record_are_typed() -> None:
    r = CellResult.model_validate(CURRENT)
    assert isinstance(r.protocol, EvalProtocol) and isinstance(r.train, TrainRecord)
    assert r.protocol.fingerprints["fd_digits_ema"].endswith("-ema")
    assert r.protocol.eval_repeats.seeds == [0, 1] and r.protocol.ema.decay == 0.999
    assert r.protocol.reproduce.startswith("bench eval")
    assert r.train.resumed_from == 16 and r.train.get("lr_scale") == 1.0 and r.train.get("nope", 7) == 7
    assert "feature_layer" in r.protocol and "n_real" not in r.protocol  # unset: not in the JSON either
    assert "n_real" not in r.to_json()["protocol"]


def test_older_forms_are_upgraded_on_read_and_add_no_keys_old_code_misreads() -> None:
    old = {"status": "failed", "reason": "boom", "model": "dcgan", "dataset": "digits", "wall_seconds": None}
    old |= {"metrics": None, "protocol": None, "train": None}
    r = CellResult.model_validate(old)
    assert (r.model_label, r.dataset_label, r.wall_seconds) == ("dcgan", "digits", 0.0)
    assert r.status is CellStatus.failed and not r.train and not r.protocol
    out = r.to_json()
    assert out["protocol"] == {} and out["train"] == {} and out["metrics"] == {}
    assert json.loads(json.dumps(out)) == out
