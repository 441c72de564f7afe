"""The analysis contract and registry: each analysis names the model hooks it needs and writes PNGs.

An analysis runs on one trained cell (`run_cell`) and, where it has the notion, across every cell under
a results root (`run_root`, for example a table over a latent-size sweep). Its options are a strict
config (`Options`), given on the command line as `--opt key=value`, so each analysis adds its own
settings without touching the CLI.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import yaml

from bench.config import StrictModel, validate
from bench.errors import BenchError
from bench.models.base import GenerativeModel
from bench.registry import Registry


class NoOptions(StrictModel):
    pass


def has_hook(model: GenerativeModel | type[GenerativeModel], name: str) -> bool:
    """Whether the family implements hook `name` (overrides the base's NotImplementedError default)."""
    cls = model if isinstance(model, type) else type(model)
    method = getattr(cls, name, None)
    if method is None:
        return False
    return method is not getattr(GenerativeModel, name, None)


class Analysis(ABC):
    """One analysis. `needs`: model hooks it calls (prior, decode, encode, posterior, translate ...)."""

    name: ClassVar[str]
    description: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[StrictModel]] = NoOptions

    def check(self, model: GenerativeModel, where: str) -> None:
        missing = [h for h in self.needs if not has_hook(model, h)]
        if missing:
            raise BenchError(
                f"{where}: analysis {self.name!r} needs the model hook(s) {', '.join(missing)}, which "
                f"{type(model).__name__} does not have"
            )

    @abstractmethod
    def run_cell(self, cell: Any, opts: Any) -> list[Path]:
        """Analyse one loaded cell (bench.analysis.load.LoadedCell); returns the files written."""

    def run_root(self, out: Path, opts: Any) -> list[Path]:
        """Analyse every suitable cell under `out`; by default an analysis works on one cell only."""
        raise BenchError(
            f"--what {self.name}: works on one cell; give the cell folder (bench analyze CELL_DIR)"
        )


ANALYSES: Registry[type[Analysis]] = Registry("analysis")


def parse_options(options: type[StrictModel], pairs: list[str]) -> StrictModel:
    """`["dims=4", "span=2.5"]` -> the analysis's Options; values are read as YAML (numbers, lists)."""
    raw: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BenchError(f"--opt: expected KEY=VALUE, got {pair!r}")
        try:
            raw[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise BenchError(f"--opt: cannot parse the value in {pair!r}") from None
    return validate(options, raw, "--opt")
