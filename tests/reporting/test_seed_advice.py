"""`bench run --dry-run` says when finished results of a grid's rows suggest more seeds than it has."""

from __future__ import annotations

from pathlib import Path

from bench.commands.dry_run import seed_advice
from bench.grid import expand
from tests.helpers.report_fixtures import GRID, fabricate


def test_dry_run_names_pairs_the_grid_has_too_few_seeds_to_separate(tmp_path: Path) -> None:
    cells = expand(GRID, "fab").cells
    assert seed_advice(cells, tmp_path / "nothing-yet") == []
    fabricate(tmp_path)
    lines = seed_advice(cells, tmp_path)
    # mlp_vae z4 (40, 42, 41) and dcgan z4 (41.8, 40.6) differ by 0.2: hundreds of seeds each.
    hit = [x for x in lines if x.startswith("mlp_vae z4 vs dcgan[d_width=8,g_width=8] z4 on fd_digits")]
    assert len(hit) == 1 and "the grid has 3 seeds per row" in hit[0]
    assert "seeds each to separate them" in hit[0]
    # Separable pairs (mlp_vae z4 vs dcgan z8) are not named.
    assert not any(x.startswith("mlp_vae z4 vs dcgan[d_width=8,g_width=8] z8") for x in lines)
    # A grid that already plans enough seeds for a pair is not told to add more.
    more = expand({**GRID, "seeds": list(range(600))}, "fab").cells  # 600 > the ~520 that pair needs
    assert not any(
        x.startswith("mlp_vae z4 vs dcgan[d_width=8,g_width=8] z4") for x in seed_advice(more, tmp_path)
    )
