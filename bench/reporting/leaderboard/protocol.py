"""Protocols in words, and the datasets whose rows were scored at different N."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench.eval import result_keys as cols
from bench.reporting.leaderboard.model import Leaderboard, Row, Section, protocol_fingerprint


def describe_protocol(protocol: dict[str, Any], column: str) -> str:
    """The protocol of a column in words: extractor, N generated vs real, split, precision, seed."""
    if not protocol:
        return f"`{column}`: no protocol recorded"
    base = cols.base_name(column)
    fp = protocol_fingerprint(protocol, base)
    ext = protocol.get("extractor", "?")
    sha = str(protocol.get("extractor_sha256", ""))[:12]
    acc = protocol.get("extractor_test_accuracy")
    parts = [f"features of {ext}" + (f" (weights sha256 {sha}…" if sha else "")]
    if sha:
        parts[0] += f", its test accuracy {acc:.1%})" if isinstance(acc, float) else ")"
    parts.append(f"{protocol.get('n_generated', '?')} generated vs {protocol.get('n_real', '?')} real images")
    if protocol.get("real_split"):
        parts.append(f"from {protocol['real_split']}")
    if cols.uses_setting(base, "kid_subsets") and protocol.get("kid_subsets"):
        parts.append(f"KID over {protocol['kid_subsets']} subsets of {protocol.get('kid_subset_size')}")
    parts.append(f"{protocol.get('precision', 'fp32')}, seed {protocol.get('seed', '?')}")
    if protocol.get("torch_fidelity"):
        parts.append(f"torch-fidelity {protocol['torch_fidelity']}")
    return f"`{column}`: " + ", ".join(parts) + f"; fingerprint {fp}"


def scored_by_protocol(column: str, protocol: dict[str, Any]) -> bool:
    """Whether a column is a score of the evaluation protocol (it has its own fingerprint there), as
    opposed to a family's test metric (recon, ELBO) or a curve summary."""
    return cols.base_name(column) in protocol.get("fingerprints", {}) or (
        "fingerprints" not in protocol and cols.headline(column)
    )


def _n_generated(section: Section) -> int | None:
    return section.protocol.get("n_generated")


def _sizes(row: Row) -> list[tuple[Any, Any]]:
    """The (N generated, N real) each of a row's done cells was scored at."""
    sizes = []
    for r in row.results:
        p = r.get("protocol") or {}
        if r.get("status") == "done" and p.get("n_generated") is not None:
            sizes.append((p.get("n_generated"), p.get("n_real")))
    return list(dict.fromkeys(sizes))


def _size_words(n: Any, n_real: Any) -> str:
    return f"N={n}" + (f" (vs {n_real} real)" if n_real is not None else "")


def different_n_by_dataset(lb: Leaderboard) -> dict[str, str]:
    """Dataset -> one sentence naming its rows by the N they were scored at, for datasets whose rows
    were scored at more than one N (generated or real): FD is biased upward at small N and the bias
    depends on the model, so those rows are in separate sections and never compared."""
    out = {}
    for dataset in dict.fromkeys(s.dataset for s in lb.sections):
        sections = [s for s in lb.sections if s.dataset == dataset]
        by_size: dict[tuple[Any, Any], list[str]] = defaultdict(list)
        for s in sections:
            for row in s.rows:
                for size in _sizes(row):
                    if row.label not in by_size[size]:
                        by_size[size].append(row.label)
        if len(by_size) < 2:
            continue
        mains = {s.main: _n_generated(s) for s in sections if _n_generated(s) is not None}
        listed = ", ".join(f"{m} at N={n}" for m, n in mains.items())
        named = "; ".join(f"{_size_words(*size)}: {', '.join(rows)}" for size, rows in by_size.items())
        out[dataset] = (
            f"{dataset}: rows were scored at different N ({listed}); they are not compared "
            f"(FD is biased upward at small N, by an amount that depends on the model). {named}."
        )
    return out


def scored_at_different_n(lb: Leaderboard) -> list[str]:
    """Sentences for datasets whose rows were scored at several N, naming the rows at each N."""
    return list(different_n_by_dataset(lb).values())
