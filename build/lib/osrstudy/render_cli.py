"""The command line shared by the figure and table renderers: NAME [--store STUDY] --out FILES,
and the writers of a figure's and a table's files."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import pandas as pd

from osrstudy.registry import Registry

LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(c, c) for c in str(text))


def latex(display: pd.DataFrame, caption: str) -> str:
    """A booktabs table (plain tabular; no pandas Styler, which needs jinja2)."""
    head = " & ".join(latex_escape(c) for c in display.columns)
    body = "\n".join(" & ".join(latex_escape(v) for v in row) + r" \\" for row in display.itertuples(index=False))
    columns = "l" * len(display.columns)
    return (f"\\begin{{table}}\n\\caption{{{latex_escape(caption)}}}\n\\begin{{tabular}}{{{columns}}}\n"
            f"\\toprule\n{head} \\\\\n\\midrule\n{body}\n\\bottomrule\n\\end{{tabular}}\n\\end{{table}}\n")


def write_table(table: pd.DataFrame, caption: str, display: pd.DataFrame, outputs: list[str]) -> None:
    """CSV (tidy, full precision) from `table`; Markdown and LaTeX (caption + readable cells) from
    `display`."""
    caption = " ".join(caption.split())
    for out in map(Path, outputs):
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":
            table.to_csv(out, index=False)
        elif out.suffix == ".md":
            out.write_text(f"{caption}\n\n{display.to_markdown(index=False)}\n")
        elif out.suffix == ".tex":
            out.write_text(latex(display, caption))
        else:
            raise SystemExit(f"unknown table format {out.suffix!r} for {out}; use .csv, .md or .tex")


def save(figure, caption: str, outputs: list[str]) -> None:
    """A figure in each output's format (PDF, PNG), its title the caption's first clause."""
    import matplotlib.pyplot as plt  # here, not at the top: writing a table needs no matplotlib

    for out in outputs:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, bbox_inches="tight", dpi=150, metadata={"Title": caption.split(":")[0]})
    plt.close(figure)


def render_main(
    module: str, registry: Registry, render: Callable[[str, str | None, list[str]], None], formats: str,
    argv: list[str] | None = None,
) -> None:
    p = argparse.ArgumentParser(prog=f"python -m {module}", description=f"Render one {registry.kind}.")
    p.add_argument("name", help=f"one of {', '.join(registry.names())}")
    p.add_argument("--store", help="the merged study.zarr (for every one that reads study blocks)")
    p.add_argument("--out", nargs="+", required=True, help=f"output files ({formats})")
    a = p.parse_args(argv)
    registry.check(a.name)
    if registry[a.name].reads and a.store is None:
        p.error(f"{registry.kind} {a.name!r} reads the study blocks {', '.join(registry[a.name].reads)}: pass --store")
    render(a.name, a.store, a.out)
