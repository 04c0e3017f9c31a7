"""Synthetic experiments of the theory (no training): one function each, DataFrame out.

    python -m osrstudy.synthetic far_vs_dimension --out far_vs_dimension.csv far_vs_dimension.md
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from osrstudy.registry import Registry
from osrstudy.render_cli import write_table
from osrstudy.theory import far_vs_dimension

SYNTHETIC = Registry("synthetic experiment")
LOST = np.nan  # a number the paper's text extraction lost: stored missing, never guessed

# Balanced-geometry paper, section 8.3, Table 2 (K = 4, tau = 0.2): what survived extraction.
PAPER_FAR = {3: (0.1048, 1.0), 5: (0.0088, 0.6645), 8: (LOST, 0.1729), 16: (LOST, 0.0048), 32: (LOST, LOST), 64: (LOST, LOST)}


@SYNTHETIC.register("far_vs_dimension")
def far_table() -> pd.DataFrame:
    """Balanced-geometry paper, section 8.3, Table 2: false-acceptance rate of a K = 4 simplex with
    the R <= 0.2 rule for unknowns uniform on the sphere, empirical vs the Theorem 13 (iii) bound,
    beside the paper's numbers ("lost" where its text lost them)."""
    table = far_vs_dimension(k=4, tau=0.2, n=100_000, seed=0)
    table["paper_far_empirical"] = [PAPER_FAR[d][0] for d in table.d]
    table["paper_far_bound"] = [PAPER_FAR[d][1] for d in table.d]
    return table


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """Floats to 4 significant digits, integers as they are, missing numbers as 'lost'."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return "lost" if np.isnan(v) else f"{v:.4g}"
        return str(v)

    return table.map(cell)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m osrstudy.synthetic", description=__doc__.split("\n")[0])
    p.add_argument("name", help=f"one of {', '.join(SYNTHETIC.names())}")
    p.add_argument("--out", nargs="+", required=True, help="output files (.csv, .md)")
    a = p.parse_args(argv)
    fn = SYNTHETIC[a.name]
    table = fn()
    write_table(table, fn.__doc__, readable(table).to_markdown(index=False), a.out)


if __name__ == "__main__":
    main()
