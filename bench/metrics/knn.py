"""Nearest-neighbour metrics on feature tensors: fidelity/diversity and memorisation.

- `density_coverage`: Naeem et al. 2020, "Reliable fidelity and diversity metrics for generative models".
- `precision_recall_knn`: Kynkäänniemi et al. 2019, "Improved precision and recall metric for assessing
  generative models" (the same k-NN balls; kept for cross-checks with torch-fidelity's `prc`).
- `memorisation`: authenticity (Alaa et al. 2022, "How faithful is your synthetic data?") and the
  data-copying test C_T (Meehan et al. 2020, "A non-parametric test to detect data-copying in
  generative models"), plus `closest_pairs` for a gallery of the nearest generated/training pairs.

Distances are Euclidean, computed with `torch.cdist` in row blocks of `block` queries against the whole
reference set, in float64 on the features' device: 10k x 10k needs one (block, 10k) matrix at a time,
and float64 keeps near-copies (distance ~1e-3 of the feature norm) apart from exact ones, which the
matmul form of cdist in float32 cannot. A point lies in a ball when its distance is <= the radius
(closed balls, as the papers' definitions and torch-fidelity's precision/recall).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from scipy.stats import mannwhitneyu
from sklearn.cluster import KMeans

from bench.errors import BenchError

BLOCK = 1024


def _f64(x: torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    if x.dim() != 2:
        raise BenchError(f"features must be an (N, D) tensor, got shape {tuple(x.shape)}")
    return x.to(device=device if device is not None else x.device, dtype=torch.float64)


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = _f64(a)
    b = _f64(b, a.device)
    if a.shape[1] != b.shape[1]:
        raise BenchError(f"features of different widths: {a.shape[1]} and {b.shape[1]}")
    return a, b


def distance_blocks(
    query: torch.Tensor, ref: torch.Tensor, block: int = BLOCK, same: bool = False
) -> Iterator[tuple[int, torch.Tensor]]:
    """(start, distances of query[start:start+block] to every row of ref), block by block.

    same=True says query is ref: each point's distance to itself is set to exactly 0 (the matmul form
    of cdist leaves round-off there), so "the k-th neighbour excluding itself" is the (k+1)-th smallest.
    """
    for start in range(0, query.shape[0], block):
        d = torch.cdist(query[start : start + block], ref)
        if same:
            rows = torch.arange(d.shape[0], device=d.device)
            d[rows, rows + start] = 0.0
        yield start, d


def knn_radii(x: torch.Tensor, k: int, block: int = BLOCK) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row of x (float64, shape (N,))."""
    x = _f64(x)
    if not 1 <= k < x.shape[0]:
        raise BenchError(f"k-NN radii need 1 <= k < N, got k={k} with N={x.shape[0]}")
    out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
    for start, d in distance_blocks(x, x, block, same=True):
        out[start : start + d.shape[0]] = d.kthvalue(k + 1, dim=1).values
    return out


def nearest(
    query: torch.Tensor, ref: torch.Tensor, block: int = BLOCK, same: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance, index) of the nearest row of ref for each row of query; same=True skips the point itself."""
    query, ref = _pair(query, ref)
    if ref.shape[0] < (2 if same else 1):
        raise BenchError(f"nearest neighbours need a reference set with more rows, got {ref.shape[0]}")
    dist = torch.empty(query.shape[0], dtype=torch.float64, device=query.device)
    idx = torch.empty(query.shape[0], dtype=torch.long, device=query.device)
    for start, d in distance_blocks(query, ref, block):
        if same:
            rows = torch.arange(d.shape[0], device=d.device)
            d[rows, rows + start] = torch.inf
        best = d.min(dim=1)
        dist[start : start + d.shape[0]] = best.values
        idx[start : start + d.shape[0]] = best.indices
    return dist, idx


def density_coverage(
    real: torch.Tensor, fake: torch.Tensor, k: int = 5, block: int = BLOCK
) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020) of N real and M generated features.

    With r_i the distance from X_i to its k-th nearest other real feature:
      density  = (1 / (k M)) sum_j sum_i 1[||Y_j - X_i|| <= r_i]   (can exceed 1)
      coverage = (1 / N) sum_i 1[exists j: ||Y_j - X_i|| <= r_i]   (in [0, 1])
    The paper recommends k = 5. Its released code (clovaai/generative-evaluation-prdc) compares with
    `<`; the two differ only on exact ties.
    """
    real, fake = _pair(real, fake)
    radii = knn_radii(real, k, block)
    hits = torch.zeros((), dtype=torch.float64, device=real.device)
    covered = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    for _, d in distance_blocks(fake, real, block):
        inside = d <= radii
        hits += inside.sum()
        covered |= inside.any(dim=0)
    return {
        "density": float(hits / (k * fake.shape[0])),
        "coverage": float(covered.double().mean()),
    }


def _share_inside(query: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, block: int) -> float:
    inside = torch.zeros(query.shape[0], dtype=torch.bool, device=query.device)
    for start, d in distance_blocks(query, centres, block):
        inside[start : start + d.shape[0]] = (d <= radii).any(dim=1)
    return float(inside.double().mean())


def precision_recall_knn(
    real: torch.Tensor, fake: torch.Tensor, k: int = 3, block: int = BLOCK
) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls (the paper's k = 3).

    precision = share of generated features inside the ball of some real feature (radius: its k-th
    nearest other real feature); recall = share of real features inside the ball of some generated
    feature (radius among the generated). Equals torch-fidelity's `prc` on the same features.
    """
    real, fake = _pair(real, fake)
    precision = _share_inside(fake, real, knn_radii(real, k, block), block)
    recall = _share_inside(real, fake, knn_radii(fake, k, block), block)
    return {"precision": precision, "recall": recall}


def authentic(train_feats: torch.Tensor, query_feats: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """Per query sample, whether it is authentic (Alaa et al. 2022), as a bool tensor.

    With t* the training sample nearest to the query q, q is unauthentic when ||q - t*|| <= the distance
    from t* to its own nearest other training sample: q sits closer to t* than the training data
    themselves do. (The paper's released code loops over real samples instead; this follows the
    paper's per-generated-sample definition.)
    """
    train, query = _pair(train_feats, query_feats)
    to_train, j = nearest(query, train, block)
    train_nn, _ = nearest(train, train, block, same=True)
    return to_train > train_nn[j]


def mann_whitney_z(fake_dist: np.ndarray, test_dist: np.ndarray) -> float:
    """Z-scored Mann-Whitney U of generated vs held-out distances to the training set (Meehan et al. 2020).

    U counts pairs with fake distance > test distance (ties 1/2; `scipy.stats.mannwhitneyu`'s statistic
    for its first sample); Z = (U - (m n / 2 - 1/2)) / sqrt(m n (m + n + 1) / 12), the null moments with
    the continuity correction of the authors' code. Z << 0: generated samples sit closer to the training
    set than held-out data do (data-copying); Z >> 0: farther (underfitting).
    """
    m, n = len(fake_dist), len(test_dist)
    u = mannwhitneyu(fake_dist, test_dist, alternative="less", method="asymptotic").statistic
    return float((u - (m * n / 2 - 0.5)) / np.sqrt(m * n * (m + n + 1) / 12))


def data_copying_ct(
    train_feats: torch.Tensor,
    test_feats: torch.Tensor,
    fake_feats: torch.Tensor,
    cells: int = 5,
    min_fake_per_cell: int = 20,
    seed: int = 0,
    block: int = BLOCK,
) -> dict[str, float | int]:
    """Meehan et al.'s C_T statistic over a k-means partition of feature space.

    The training features are split into `cells` cells by scikit-learn KMeans (n_init=10,
    random_state=seed); test and generated features go to the cell of their nearest centroid. In each
    cell pi, Z_U(pi) is `mann_whitney_z` of generated vs test distances to the nearest training sample
    *of that cell*. C_T = sum_pi P_n(pi) Z_U(pi) / sum_pi P_n(pi), P_n(pi) the share of test samples in
    pi, over the cells holding at least `min_fake_per_cell` generated samples (the paper's tau; the
    value 20 and the small default number of cells, so that each cell keeps enough test samples at the
    sizes evaluated here, are this harness's choices). Every cell needs training and test samples.
    """
    train, test = _pair(train_feats, test_feats)
    _, fake = _pair(train, fake_feats)
    if cells < 1 or train.shape[0] < 2 * cells:
        raise BenchError(
            f"the data-copying test needs 1 <= cells <= N_train / 2, got {cells} and {train.shape[0]}"
        )
    km = KMeans(n_clusters=cells, n_init=10, random_state=seed).fit(train.cpu().numpy())
    cell_of = {
        name: torch.from_numpy(km.predict(x.cpu().numpy()).astype(np.int64)).to(train.device)
        for name, x in (("train", train), ("test", test), ("fake", fake))
    }
    weights, zs = [], []
    for c in range(cells):
        t, q, g = (x[cell_of[name] == c] for name, x in (("train", train), ("test", test), ("fake", fake)))
        if len(t) == 0 or len(q) == 0:
            raise BenchError(
                f"data-copying cell {c} of {cells} holds {len(t)} training and {len(q)} test samples; "
                "lower the number of cells or use more test samples"
            )
        if len(g) < min_fake_per_cell:
            continue
        fake_d = nearest(g, t, block)[0].cpu().numpy()
        test_d = nearest(q, t, block)[0].cpu().numpy()
        weights.append(len(q) / test.shape[0])
        zs.append(mann_whitney_z(fake_d, test_d))
    if not zs:
        raise BenchError(
            f"no data-copying cell holds {min_fake_per_cell} generated samples; "
            "use more samples or fewer cells"
        )
    w = np.asarray(weights)
    return {"c_t": float(w @ np.asarray(zs) / w.sum()), "cells_used": len(zs), "cells": cells}


def memorisation(
    train_feats: torch.Tensor,
    test_feats: torch.Tensor,
    fake_feats: torch.Tensor,
    cells: int = 5,
    min_fake_per_cell: int = 20,
    seed: int = 0,
    z_threshold: float = -3.0,
    authenticity_ratio: float = 0.5,
    block: int = BLOCK,
) -> dict[str, float | int | bool]:
    """Does the generator copy its training set? Authenticity, Mann-Whitney Z, C_T and one flag.

    Returns
      authentic_share       share of generated samples that are authentic (`authentic`, Alaa et al.);
      authentic_share_test  the same share for the held-out test samples: what honest samples score;
      z_u                   `mann_whitney_z` on the whole feature space (one cell);
      c_t, cells, cells_used  Meehan et al.'s partitioned statistic (`data_copying_ct`);
      copies                the rule: c_t < z_threshold (default -3: a one-sided p of about 0.0013
                            under the null for a Z score) or authentic_share < authenticity_ratio x
                            authentic_share_test (default half of what held-out data score).
    The rule and its thresholds are this harness's, documented in docs/metrics.md ("Memorisation");
    the registered mem_domain / mem_inception fix them (bench/eval/metric_registry.py, MEM_*).
    """
    train, test = _pair(train_feats, test_feats)
    _, fake = _pair(train, fake_feats)
    fake_d, fake_j = nearest(fake, train, block)
    test_d, test_j = nearest(test, train, block)
    train_nn, _ = nearest(train, train, block, same=True)
    share = float((fake_d > train_nn[fake_j]).double().mean())
    share_test = float((test_d > train_nn[test_j]).double().mean())
    z_u = mann_whitney_z(fake_d.cpu().numpy(), test_d.cpu().numpy())
    ct = data_copying_ct(train, test, fake, cells, min_fake_per_cell, seed, block)
    copies = ct["c_t"] < z_threshold or share < authenticity_ratio * share_test
    return {
        "authentic_share": share,
        "authentic_share_test": share_test,
        "z_u": z_u,
        **ct,
        "copies": bool(copies),
    }


def closest_pairs(
    train_feats: torch.Tensor, fake_feats: torch.Tensor, n: int, block: int = BLOCK
) -> dict[str, list]:
    """The n generated samples nearest to a training sample, nearest first (for a gallery).

    Returns {"fake_index": [...], "train_index": [...], "distance": [...]}: row i pairs generated
    sample fake_index[i] with its nearest training sample train_index[i] at that distance.
    """
    train, fake = _pair(train_feats, fake_feats)
    if not 1 <= n <= fake.shape[0]:
        raise BenchError(f"closest_pairs needs 1 <= n <= {fake.shape[0]} generated samples, got n={n}")
    dist, j = nearest(fake, train, block)
    order = torch.argsort(dist, stable=True)[:n]
    return {
        "fake_index": order.tolist(),
        "train_index": j[order].tolist(),
        "distance": dist[order].tolist(),
    }
