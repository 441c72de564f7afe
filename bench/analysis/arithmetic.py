"""Attribute vector arithmetic (Radford et al. 2016, fig. 7) with a model that encodes and decodes.

An expression adds and subtracts groups of test images chosen by attributes, for example
`Male=1,Eyeglasses=0 + Eyeglasses=1 - Eyeglasses=0` (men without glasses, plus people with glasses,
minus people without). A group is a comma-separated conjunction of `attribute=value`, where attributes
are the dataset's factors (CelebA's 40) or `label` (the class). Two ways, one grid per expression:

- latent: the mean code of each group (the encoder's codes of up to `n_avg` members), combined with the
  expression's signs and decoded; further columns add Gaussian noise of scale `noise` to the result,
  as the paper shows variations of one result;
- image: column j combines the j-th member of every group in pixel space, and that image is encoded
  and decoded (the "image-space arithmetic, encoded").

Rows of the grid `arithmetic_<expression>.png`: one per group (column "mean" decodes the group's mean
code, the others are members), then "= z means", "= pixels" and "= re-encoded" (decode(encode(pixels))).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import Field

from bench.analysis.base import ANALYSES, Analysis
from bench.analysis.bounds import MAX_BATCH, MAX_COLUMNS, MAX_IMAGES
from bench.analysis.figures import save_labeled_grid
from bench.analysis.load import LoadedCell
from bench.config import StrictModel
from bench.datasets.base import DatasetInfo, ImageSplit
from bench.datasets.batches import to_unit_range
from bench.errors import BenchError
from bench.models.base import GenerativeModel

LABEL = "label"


class ArithmeticOptions(StrictModel):
    expr: list[str] = Field(
        default_factory=lambda: ["Male=1,Eyeglasses=0 + Eyeglasses=1 - Eyeglasses=0"],
        min_length=1,
        description="expressions, one grid each: GROUP (+|-) GROUP ..., GROUP = attr=value[,attr=value]",
    )
    n_avg: int = Field(64, gt=0, le=MAX_IMAGES, description="members of each group whose codes are averaged")
    cols: int = Field(8, ge=2, le=MAX_COLUMNS, description="images per row")
    noise: float = Field(0.25, ge=0, description="scale of the noise added to the latent result's variations")
    split: str = Field("test", description="split the groups are drawn from")
    batch_size: int = Field(256, gt=0, le=MAX_BATCH)
    seed: int = 0


@dataclass(frozen=True)
class Term:
    sign: int  # +1 or -1
    conditions: tuple[tuple[str, int], ...]

    @property
    def text(self) -> str:
        return ("+ " if self.sign > 0 else "- ") + ",".join(f"{k}={v}" for k, v in self.conditions)


def parse_expression(expr: str, info: DatasetInfo, where: str = "--opt expr") -> list[Term]:
    """`A=1,B=0 + B=1 - B=0` -> signed terms; every attribute must be a factor of the dataset or label."""
    parts = re.split(r"\s+([+-])\s+", " " + expr.strip())
    allowed = [*info.factors, LABEL] if info.num_classes else list(info.factors)
    terms = []
    signs = ["+", *parts[1::2]] if parts[0].strip() else parts[1::2]
    groups = [p for p in parts[0::2] if p.strip()]
    if not groups or len(signs) != len(groups):
        raise BenchError(f"{where}: {expr!r} is not GROUP (+|-) GROUP ...; e.g. 'Male=1 + Eyeglasses=1'")
    for sign, group in zip(signs, groups, strict=True):
        conditions = []
        for cond in group.strip().split(","):
            key, eq, value = (s.strip() for s in cond.partition("="))
            if not eq or not re.fullmatch(r"-?\d+", value):
                raise BenchError(f"{where}: {cond.strip()!r} in {expr!r} is not ATTRIBUTE=INTEGER")
            if key not in allowed:
                raise BenchError(
                    f"{where}: unknown attribute {key!r} for {info.name}; allowed: {', '.join(allowed)}"
                )
            conditions.append((key, int(value)))
        terms.append(Term(1 if sign == "+" else -1, tuple(conditions)))
    return terms


def members(split: ImageSplit, info: DatasetInfo, term: Term) -> torch.Tensor:
    """Indices of the split's images that satisfy every condition of the term."""
    keep = torch.ones(len(split), dtype=torch.bool)
    names = list(info.factors)
    for key, value in term.conditions:
        if key == LABEL:
            if split.labels is None:
                raise BenchError(f"{info.name}: this split has no labels for {key}={value}")
            column = split.labels
        else:
            if split.factors is None:
                raise BenchError(f"{info.name}: this split has no attributes for {key}={value}")
            column = split.factors[:, names.index(key)]
        keep &= column.cpu() == value
    return keep.nonzero().flatten()


@torch.no_grad()
def encode_all(model: GenerativeModel, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model.encode(x[i : i + batch_size]).float() for i in range(0, len(x), batch_size)])


@torch.no_grad()
def arithmetic_grid(
    model: GenerativeModel, split: ImageSplit, info: DatasetInfo, terms: list[Term], opts: ArithmeticOptions
) -> tuple[torch.Tensor, list[str]]:
    """(rows, cols, C, H, W) images and their row labels for one expression."""
    g = torch.Generator().manual_seed(opts.seed)
    rows, labels = [], []
    z_result = 0.0
    picked = []
    for term in terms:
        idx = members(split, info, term)
        if len(idx) < opts.cols - 1:
            raise BenchError(
                f"--opt expr: group {term.text[2:]!r} has {len(idx)} image(s) in {info.name}/{opts.split}; "
                f"at least {opts.cols - 1} are needed"
            )
        idx = idx[torch.randperm(len(idx), generator=g)]
        x = to_unit_range(split.images[idx[: max(opts.n_avg, opts.cols - 1)]].to(model.device))
        z_mean = encode_all(model, x[: opts.n_avg], opts.batch_size).mean(0)
        z_result = z_result + term.sign * z_mean
        picked.append((term.sign, x[: opts.cols - 1]))
        rows.append(torch.cat([model.decode(z_mean[None]), x[: opts.cols - 1]]))
        labels.append(term.text)
    assert isinstance(z_result, torch.Tensor)
    noise = torch.randn(opts.cols - 1, z_result.numel(), generator=g).to(z_result.device) * opts.noise
    z_all = torch.cat([z_result[None], z_result[None] + noise])
    rows.append(model.decode(z_all))
    labels.append("= z means")
    pixel = sum(sign * x for sign, x in picked).clamp(-1, 1)  # column j: j-th members combined
    rows.append(torch.cat([pixel[:1] * 0 - 1, pixel]))  # first column left black: no mean here
    labels.append("= pixels")
    decoded = model.decode(encode_all(model, pixel, opts.batch_size))
    rows.append(torch.cat([decoded[:1] * 0 - 1, decoded]))
    labels.append("= re-encoded")
    return torch.stack([r.float().cpu() for r in rows]), labels


def slug(text: str) -> str:
    return re.sub(
        r"_+", "_", re.sub(r"[^A-Za-z0-9=]+", "_", text.replace("+", "plus").replace("-", "minus"))
    )[:100].strip("_")


@ANALYSES.register("arithmetic")
class Arithmetic(Analysis):
    name = "arithmetic"
    description = "attribute vector arithmetic: group-mean codes and pixel arithmetic, encoded and decoded"
    needs = ("encode", "decode")
    Options = ArithmeticOptions

    def check(self, model: GenerativeModel, where: str) -> None:
        super().check(model, where)
        if model.conditional:
            raise BenchError(f"{where}: analysis 'arithmetic' needs an unconditional encoder and decoder")

    def run_cell(self, cell: LoadedCell, opts: ArithmeticOptions) -> list[Path]:
        parsed = [parse_expression(e, cell.info) for e in opts.expr]  # all checked before any work
        split = cell.split(opts.split)
        written = []
        for expr, terms in zip(opts.expr, parsed, strict=True):
            images, labels = arithmetic_grid(cell.model, split, cell.info, terms, opts)
            cols = ["mean", *[str(j) for j in range(1, opts.cols)]]
            path = cell.dir / f"arithmetic_{slug(expr)}.png"
            written.append(save_labeled_grid(images, path, labels, cols, title=f"{cell.cfg.cell_id}: {expr}"))
        return written
