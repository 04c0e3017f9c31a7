"""What `evaluation.jacobian_after` costs the Jacobian-norm score: on finished run stores with
exact final norms for every test sample, the held-out AUROC of the `jacobian` scorer on all of
them against the AUROC on the fixed-seed subsample that `jacobian_after: {test: N}` keeps
(`EvalSamples.per_partition`).

    python -m osrstudy.benchmarks.jacobian_budget results/<study>/runs --budgets 500 1000 2000
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from osrstudy.metrics import auroc
from osrstudy.run_inputs import EvalSamples
from osrstudy.store import open_run


def auroc_shifts(store: Path, budgets: list[int]) -> dict | None:
    """{'run', 'test', 'exact', N: AUROC(budget N) - exact, ...} in AUROC points; None for a run
    whose test samples do not all have a final norm."""
    samples, _ = open_run(store)
    partition, labels = samples.partition.values.astype(str), samples.label.values
    norms = samples.jacobian_norm.values.astype(np.float64)
    test = partition == "test"
    if not np.isfinite(norms[test]).all():
        return None
    exact = auroc(norms[test], labels[test])
    row = {"run": store.name.removesuffix(".zarr"), "test": int(test.sum()), "exact": 100 * exact}
    layout = EvalSamples(labels, partition, classes=labels, index=np.arange(len(labels)))  # only the order matters
    for n in budgets:
        kept = test & layout.per_partition({"test": n})
        row[n] = 100 * (auroc(norms[kept], labels[kept]) - exact)
    return row


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.benchmarks.jacobian_budget",
                                description=__doc__.split("\n")[0])
    p.add_argument("runs", type=Path, help="a folder of run stores (results/<study>/runs)")
    p.add_argument("--budgets", type=int, nargs="+", default=[500, 1000, 2000])
    a = p.parse_args(argv)
    rows = [r for r in (auroc_shifts(s, a.budgets) for s in sorted(a.runs.glob("*.zarr"))) if r is not None]
    if not rows:
        raise SystemExit(f"error: no run store under {a.runs} has a final norm for every test sample")
    print("| run | test samples | exact AUROC | " + " | ".join(f"test budget {n}" for n in a.budgets) + " |")
    print("|---|---|---|" + "---|" * len(a.budgets))
    for r in rows:
        cells = " | ".join(f"{r[n]:+.2f}" for n in a.budgets)
        print(f"| {r['run']} | {r['test']} | {r['exact']:.2f} | {cells} |")
    shifts = np.abs(np.array([[r[n] for n in a.budgets] for r in rows]))
    print(f"| mean abs shift ({len(rows)} runs) | | | " + " | ".join(f"{v:.2f}" for v in shifts.mean(0)) + " |")
    print("| largest abs shift | | | " + " | ".join(f"{v:.2f}" for v in shifts.max(0)) + " |")


if __name__ == "__main__":
    main()
