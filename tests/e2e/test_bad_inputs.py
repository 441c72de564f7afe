"""A table of bad inputs to `bench run`: each is refused with exit code 2, one line on stderr, no
traceback, within seconds, and nothing is written under --out.

The rows run the real entry point (`bench.cli.main`) in this process, so the table takes seconds; a
few rows at the end run `python -m bench` to prove the installed entry point behaves the same. None
passes `--dry-run`: the guarantee that matters is that a real run writes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.cli import main
from tests.conftest import TINY_GRID

# --- grid files that are not a grid's YAML (written as raw bytes) -----------------------------------


def _bomb(where: str) -> bytes:
    """Billion laughs: 9 levels of 9 aliases, 9**9 values once expanded, under `where`."""
    lines = ["x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        lines.append(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]")
    body = yaml.safe_dump({k: v for k, v in TINY_GRID.items() if k not in ("models", "name")})
    return ("\n".join(lines) + "\n" + body + where + "\n").encode()


def _flow_bomb() -> str:
    """The same bomb in one flow sequence, as it fits on a command line."""
    levels = ["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "[" + ", ".join(levels) + "]"


def _tiny(**changes: Any) -> bytes:
    return yaml.safe_dump({**TINY_GRID, **changes}).encode()


RAW: list[tuple[str, bytes, str]] = [
    ("bomb-description", _bomb("description: *x8\nmodels: [mlp_vae]"), "expands to more than 100000"),
    ("bomb-model-arg", _bomb("models: [{mlp_vae: {hidden: *x8}}]"), "expands to more than 100000"),
    ("bomb-name", _bomb("name: *x8\nmodels: [mlp_vae]"), "expands to more than 100000"),
    ("recursive-alias", _tiny() + b"description: &r [*r]\n", "recursive YAML alias"),
    ("deep-nesting", _tiny() + b"description: " + b"[" * 200 + b"]" * 200 + b"\n", "nested deeper than 64"),
    ("too-large", _tiny() + b"# " + b"x" * (1 << 20) + b"\n", "a grid file may hold at most 1048576 bytes"),
    ("not-utf8", _tiny() + b"description: caf\xe9\n", "not UTF-8 text: byte 0xe9 at offset"),
    ("not-utf8-first-byte", b"\xff\xfe" + _tiny(), "not UTF-8 text: byte 0xff at offset 0"),
    ("control-char", _tiny() + b"description: a\x01b\n", "character #x0001 at position"),
    ("nul-byte", _tiny() + b"\x00", "character #x0000"),
    ("bad-syntax", b"models: [mlp_vae\n", "is not valid YAML"),
    ("tab-indent", b"train:\n\tsteps: 3\n", "is not valid YAML"),
    ("huge-int", _tiny() + b"seeds: [" + b"9" * 5000 + b"]\n", "a value cannot be read"),
    ("bad-date", _tiny(seeds=None).replace(b"seeds: null", b"seeds: [2026-13-45]"), "a value cannot be read"),
    ("top-level-list", b"- models: [mlp_vae]\n", "a grid must be a mapping of keys, got list"),
    ("top-level-scalar", b"hello\n", "a grid must be a mapping of keys, got str"),
    ("empty-file", b"", "a grid must be a mapping of keys, got NoneType"),
    ("two-documents", _tiny() + b"---\nname: two\n", "expected a single document"),
    ("unhashable-key", _tiny() + b"? [a, b]\n: 1\n", "is not valid YAML"),
    ("duplicate-anchor-undefined", _tiny() + b"description: *nowhere\n", "is not valid YAML"),
]

# --- grids that are valid YAML but not a valid grid (TINY_GRID with top-level keys replaced) -------

GRIDS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-key", {"colour": 3}, "colour: unknown key; allowed: name"),
    ("unknown-key-newline", {"col\nour": 3}, "'col\\nour': unknown key; allowed: name"),
    ("unknown-key-long", {"k" * 100_000: 3}, "'kkkkkkkkkkkk"),
    ("unknown-key-number", {7: 3}, "7: unknown key; allowed: name"),
    ("models-name-long", {"models": ["m" * 100_000]}, "models: unknown name 'mmmmmmm"),
    ("blocks-empty", {"blocks": []}, "blocks: expected a non-empty list of blocks"),
    ("blocks-not-list", {"blocks": "all"}, "blocks: expected a non-empty list of blocks"),
    ("block-not-mapping", {"blocks": [3]}, "blocks[0].: expected a mapping of keys, got 3"),
    ("block-unknown-key", {"blocks": [{"models": ["mlp_vae"], "bogus": 1}]}, "blocks[0].bogus: unknown key"),
    ("models-missing", {"models": None}, "models: required key is missing"),
    ("models-empty", {"models": []}, "models: expected a non-empty list, got []"),
    ("models-string", {"models": "mlp_vae"}, "models: expected a non-empty list, got 'mlp_vae'"),
    ("models-number", {"models": [3]}, "models[0]: expected NAME or {NAME: {key: value}}, got 3"),
    ("models-two-names", {"models": [{"mlp_vae": {}, "dcgan": {}}]}, "models[0]: expected NAME or"),
    ("models-args-scalar", {"models": [{"dcgan": 3}]}, "models[0]: expected NAME or"),
    ("models-unknown", {"models": ["nope"]}, "unknown model 'nope'; allowed:"),
    ("models-duplicate", {"models": ["mlp_vae", "mlp_vae"]}, "models: mlp_vae is listed twice"),
    ("models-duplicate-spelled", {"models": ["mlp_vae", {"mlp_vae": {}}]}, "mlp_vae is listed twice"),
    ("model-arg-unknown", {"models": [{"dcgan": {"g_widht": 8}}]}, "models.dcgan.g_widht: unknown key"),
    ("model-arg-type", {"models": [{"dcgan": {"g_width": "8"}}]}, "models.dcgan.g_width: input should be"),
    ("model-arg-negative", {"models": [{"dcgan": {"lr": -1.0}}]}, "models.dcgan.lr: input should be greater"),
    ("model-arg-long", {"models": [{"dcgan": {"lr": list(range(5000))}}]}, "models.dcgan.lr: input should"),
    ("datasets-empty", {"datasets": []}, "datasets: expected a non-empty list"),
    ("datasets-unknown", {"datasets": ["imagenet9"]}, "unknown dataset 'imagenet9'"),
    ("datasets-duplicate", {"datasets": ["digits", "digits"]}, "datasets: digits is listed twice"),
    ("dataset-arg-unknown", {"datasets": [{"digits": {"bogus": 1}}]}, "datasets.digits.bogus: unknown key"),
    ("latents-empty", {"latent_sizes": []}, "latent_sizes: expected a non-empty list of integers, got []"),
    ("latents-zero", {"latent_sizes": [4, 0]}, "latent size must be a positive integer, got 0"),
    ("latents-negative", {"latent_sizes": [-3]}, "latent size must be a positive integer, got -3"),
    ("latents-huge", {"latent_sizes": [10**12]}, "a latent size must be in 1..65536, got 1000000000000"),
    ("latents-duplicate", {"latent_sizes": [4, 8, 4]}, "latent_sizes: 4 is listed twice"),
    ("latents-string", {"latent_sizes": ["big"]}, "latent_sizes: expected integers, got 'big'"),
    ("latents-bool", {"latent_sizes": [True]}, "latent_sizes: expected integers, got True"),
    ("latents-scalar", {"latent_sizes": 4}, "latent_sizes: expected a non-empty list of integers, got 4"),
    ("seeds-duplicate", {"seeds": [0, 0]}, "seeds: 0 is listed twice"),
    ("seeds-empty", {"seeds": []}, "seeds: expected a non-empty list of integers, got []"),
    ("seeds-negative", {"seeds": [-1]}, "a seed must be in 0..2147483647, got -1"),
    ("seeds-huge", {"seeds": [2**40]}, "a seed must be in 0..2147483647"),
    ("seeds-float", {"seeds": [1.5]}, "seeds: expected integers, got 1.5"),
    ("too-many-cells", {"seeds": list(range(6000))}, "expands to up to 12000 cells; at most 10000"),
    ("train-scalar", {"train": 3}, "train: expected a mapping of keys, got 3"),
    ("train-unknown", {"train": {"steps": 3, "stepz": 3}}, "train.stepz: unknown key; allowed: steps"),
    ("train-unknown-newline", {"train": {"steps": 3, "a\nb": 3}}, "train.'a\\nb': unknown key"),
    ("train-unknown-long", {"train": {"steps": 3, "k" * 100_000: 3}}, "train.'kkkkkkkk"),
    ("steps-string", {"train": {"steps": "ten"}}, "train.steps: input should be a valid integer (got 'ten')"),
    ("steps-zero", {"train": {"steps": 0}}, "train.steps: input should be greater than 0"),
    (
        "steps-huge",
        {"train": {"steps": 10**30}},
        "train.steps: input should be less than or equal to 100000000",
    ),
    ("steps-float", {"train": {"steps": 1.5}}, "train.steps: input should be a valid integer"),
    ("steps-and-epochs", {"train": {"steps": 5, "epochs": 1.0}}, "give steps or epochs, not both"),
    ("no-budget", {"train": {"batch_size": 16}}, "a training budget is missing"),
    ("epochs-huge", {"train": {"epochs": 1e9}}, "train.epochs: input should be less than or equal to 100000"),
    ("epochs-negative", {"train": {"epochs": -1.0}}, "train.epochs: input should be greater than 0"),
    ("epochs-nan", {"train": {"epochs": float("nan")}}, "train.epochs: input should be"),
    (
        "epochs-too-many-steps",
        {"train": {"epochs": 100000.0, "batch_size": 1}},
        "exceed the bound of 100000000",
    ),
    (
        "batch-zero",
        {"train": {"steps": 3, "batch_size": 0}},
        "train.batch_size: input should be greater than 0",
    ),
    ("batch-huge", {"train": {"steps": 3, "batch_size": 10**6}}, "train.batch_size: input should be less"),
    ("batch-over-split", {"train": {"steps": 3, "batch_size": 2000}}, "larger than the 1437 training images"),
    ("device", {"train": {"steps": 3, "device": "tpu"}}, "train.device: input should be 'auto', 'cpu'"),
    ("processes-zero", {"train": {"steps": 3, "processes": 0}}, "train.processes: input should be greater"),
    ("processes-indivisible", {"train": {"steps": 3, "processes": 3}}, "must be divisible by processes=3"),
    ("checkpoint-negative", {"train": {"steps": 3, "checkpoint_every": -1}}, "train.checkpoint_every"),
    ("log-every-zero", {"train": {"steps": 3, "log_every": 0}}, "train.log_every: input should be greater"),
    ("precision", {"train": {"steps": 3, "mixed_precision": "fp16"}}, "train.mixed_precision: input should"),
    ("threads-huge", {"train": {"steps": 3, "threads": 10**6}}, "train.threads: input should be less"),
    ("eval-scalar", {"eval": "fast"}, "eval: expected a mapping of keys, got 'fast'"),
    ("eval-unknown", {"eval": {"n_sample": 3}}, "eval.n_sample: unknown key"),
    (
        "metrics-empty",
        {"eval": {"metrics": []}},
        "eval.metrics: an empty list leaves DCGAN with no metric at all",
    ),
    ("metrics-duplicate", {"eval": {"metrics": ["fd", "fd"]}}, "eval.metrics: 'fd' is listed twice"),
    ("metrics-unknown", {"eval": {"metrics": ["fdi"]}}, "eval.metrics.0: input should be 'fd', 'kid'"),
    ("metrics-string", {"eval": {"metrics": "fd"}}, "eval.metrics: input should be a valid list"),
    ("curve-metrics-empty", {"eval": {"curve_metrics": []}}, "eval.curve_metrics: list should have at least"),
    ("n-samples-huge", {"eval": {"n_samples": 10**9}}, "eval.n_samples: input should be less than or equal"),
    ("n-samples-zero", {"eval": {"n_samples": 0}}, "eval.n_samples: input should be greater than 0"),
    (
        "n-real-huge",
        {"eval": {"n_real": 10**7}},
        "eval.n_real: input should be less than or equal to 1000000",
    ),
    ("n-real-over-split", {"eval": {"n_real": 5000}}, "eval.n_real: 5000 exceeds the 360 images of digits"),
    ("kid-subset", {"eval": {"kid_subset_size": 5000}}, "eval.kid_subset_size: 5000 is larger than"),
    ("split", {"eval": {"split": "val"}}, "eval.split: 'val' is not a split of digits"),
    ("eval-seed-negative", {"eval": {"seed": -1}}, "eval.seed: input should be greater than or equal to 0"),
    ("eval-precision", {"eval": {"precision": "fp16"}}, "eval.precision: input should be 'fp32' or 'bf16'"),
    ("eval-batch-huge", {"eval": {"batch_size": 10**6}}, "eval.batch_size: input should be less"),
    ("curve-every-negative", {"eval": {"curve_every": -5}}, "eval.curve_every: input should be greater"),
    ("slurm-unicode-time", {"slurm": {"time": "٠٨:٠٠:٠٠"}}, "slurm.time: string should match pattern"),
    ("slurm-newline-partition", {"slurm": {"partition": "gpu\n"}}, "slurm.partition: string should match"),
    ("slurm-unknown", {"slurm": {"queue": "gpu"}}, "slurm.queue: unknown key"),
    ("data-unknown", {"data": {"bogus": 1}}, "data.bogus: unknown key"),
    ("data-root-type", {"data": {"root": 3}}, "data.root: input should be a valid string"),
]

# --- command lines (with a valid tiny grid unless the row names its own) ---------------------------

ARGS: list[tuple[str, list[str], str]] = [
    ("set-no-section", ["--set", "steps=7"], "--set: expected train.KEY=VALUE or eval.KEY=VALUE"),
    ("set-no-value", ["--set", "train.steps"], "--set: expected train.KEY=VALUE"),
    ("set-bad-section", ["--set", "model.lr=1"], "--set: expected train.KEY=VALUE"),
    ("set-bad-yaml", ["--set", "train.steps=[unclosed"], "--set: cannot parse the value"),
    ("set-unknown-key", ["--set", "train.stepz=3"], "train.stepz: unknown key"),
    ("set-bomb", ["--set", "train.steps=" + _flow_bomb()], "--set: cannot parse the value"),
    ("set-huge-int", ["--set", "train.steps=" + "9" * 5000], "--set: cannot parse the value"),
    ("set-huge-steps", ["--set", "train.steps=1000000000000000000000000000000"], "less than or equal"),
    (
        "set-metrics-empty",
        ["--set", "eval.metrics=[]"],
        "eval.metrics: an empty list leaves DCGAN with no metric at all",
    ),
    ("jobs-zero", ["--jobs", "0"], "Invalid value for '--jobs'"),
    ("jobs-text", ["--jobs", "many"], "Invalid value for '--jobs'"),
    ("launcher", ["--launcher", "cloud"], "Invalid value for '--launcher'"),
    ("unknown-option", ["--bogus"], "No such option: --bogus"),
    ("grid-not-found", ["--grid", "no_such_grid"], "neither a built-in grid nor a file"),
    ("grid-file-missing", ["--grid", "missing.yaml"], "--grid: file 'missing.yaml' does not exist"),
    ("grid-is-folder", ["--grid", "{tmp}"], "is a directory"),
    ("slurm-unicode-time", ["--launcher", "slurm", "--time", "٠٨:٠٠:٠٠"], "slurm.time: string should match"),
    ("slurm-newline-time", ["--launcher", "slurm", "--time", "08:00:00\n"], "slurm.time: string should"),
    ("slurm-mem", ["--launcher", "slurm", "--mem", "32X"], "slurm.mem: string should match pattern"),
    ("slurm-partition-space", ["--launcher", "slurm", "--partition", "a b"], "slurm.partition: string"),
    ("slurm-nodes-zero", ["--launcher", "slurm", "--nodes", "0"], "slurm.nodes: input should be greater"),
    ("out-is-a-file", ["--out", "{tmp}/grid.yaml"], "grid.yaml is a file; give a folder"),
    ("out-under-a-file", ["--out", "{tmp}/grid.yaml/out"], "which is a file; give a folder"),
    ("dataset-without-files", ["--set", "eval.n_samples=100", "--grid", "{mnist}"], "mnist: no data root"),
    ("slurm-out-newline", ["--launcher", "slurm", "--out", "{tmp}/out\n"], "holds a control character"),
    ("slurm-out-unicode", ["--launcher", "slurm", "--out", "{tmp}/résultats"], "has characters SLURM"),
]


def bench(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> int:
    monkeypatch.setattr(sys, "argv", ["bench", *args])
    try:
        main()
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    return 0


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


def _check_refused(code: int, stderr: str, message: str, out: Path, seconds: float) -> None:
    assert code == 2, f"exit code {code}; stderr: {stderr!r}"
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), f"not one line: {stderr[:500]!r}"
    assert stderr.startswith("error: "), stderr
    assert "Traceback" not in stderr
    assert message in stderr, stderr
    assert len(stderr) < 2000, f"an unbounded message: {len(stderr)} characters"
    assert not out.exists(), f"written under --out: {_snapshot(out)}"
    assert seconds < 30, f"took {seconds:.0f} s"


def _run_row(monkeypatch, capsys, tmp_path: Path, grid: Path, args: list[str], message: str) -> None:
    monkeypatch.setenv("BENCH_DATA", "unset-below")
    monkeypatch.delenv("BENCH_DATA")  # `bench run` exports it; monkeypatch restores it afterwards
    out = tmp_path / "out"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(out)]
    capsys.readouterr()
    start = time.perf_counter()
    code = bench(monkeypatch, ["run", "--grid", str(grid), *args])
    seconds = time.perf_counter() - start
    stderr = capsys.readouterr().err
    _check_refused(code, stderr, message, out, seconds)


@pytest.mark.parametrize(("data", "message"), [r[1:] for r in RAW], ids=[r[0] for r in RAW])
def test_bad_grid_file(monkeypatch, capsys, tmp_path: Path, data: bytes, message: str) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_bytes(data)
    _run_row(monkeypatch, capsys, tmp_path, grid, [], message)


@pytest.mark.parametrize(("change", "message"), [r[1:] for r in GRIDS], ids=[r[0] for r in GRIDS])
def test_bad_grid(monkeypatch, capsys, tmp_path: Path, change: dict, message: str) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({**TINY_GRID, **change}))  # keys need not be strings
    _run_row(monkeypatch, capsys, tmp_path, grid, [], message)


@pytest.mark.parametrize(("args", "message"), [r[1:] for r in ARGS], ids=[r[0] for r in ARGS])
def test_bad_command_line(
    monkeypatch, capsys, tmp_path: Path, write_grid, args: list[str], message: str
) -> None:
    grid = write_grid()
    if "--grid" in args:
        i = args.index("--grid")
        grid, args = Path(args[i + 1].replace("{tmp}", str(tmp_path))), args[:i] + args[i + 2 :]
        if str(grid) == "{mnist}":  # valid, but its files are nowhere
            grid = write_grid("mnist.yaml", datasets=["mnist"])
    _run_row(monkeypatch, capsys, tmp_path, grid, args, message)


def test_unreadable_grid_file(monkeypatch, capsys, tmp_path: Path, write_grid) -> None:
    """A grid file the user may not read (mode 000; simulated: this suite may run as root)."""
    grid = write_grid()
    real_open = Path.open

    def denied(self: Path, *args: Any, **kwargs: Any):
        if self == grid:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    _run_row(monkeypatch, capsys, tmp_path, grid, [], "cannot be read (Permission denied)")


def test_huge_value_in_a_message_is_cut(monkeypatch, capsys, tmp_path: Path, write_grid) -> None:
    """A model argument of 5,000 numbers is named, not printed: the line stays short."""
    grid = write_grid(models=[{"dcgan": {"g_width": list(range(5000))}}])
    _run_row(monkeypatch, capsys, tmp_path, grid, [], "models.dcgan.g_width")
    # (the length bound is part of _check_refused)


SUBPROCESS_ROWS = [
    ("bomb", RAW[0][1], [], "expands to more than 100000"),
    ("not-utf8", RAW[6][1], [], "not UTF-8 text"),
    ("latents-empty", _tiny(latent_sizes=[]), [], "latent_sizes: expected a non-empty list"),
    ("jobs-zero", _tiny(), ["--jobs", "0"], "Invalid value for '--jobs'"),
]


@pytest.mark.parametrize(
    ("data", "args", "message"), [r[1:] for r in SUBPROCESS_ROWS], ids=[r[0] for r in SUBPROCESS_ROWS]
)
def test_the_real_entry_point(tmp_path: Path, data: bytes, args: list[str], message: str) -> None:
    grid, out = tmp_path / "grid.yaml", tmp_path / "out"
    grid.write_bytes(data)
    env = {k: v for k, v in os.environ.items() if k != "BENCH_DATA"}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--grid", str(grid), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    _check_refused(proc.returncode, proc.stderr, message, out, time.perf_counter() - start)
