"""The command line shared by the figure and table renderers: NAME --store STUDY --out FILES."""
from __future__ import annotations

import argparse
from typing import Callable

from osrstudy.registry import Registry


def write_table(table, caption: str, markdown_body: str, outputs: list[str]) -> None:
    """Write a table as CSV (tidy, full precision) and/or Markdown (caption + readable body)."""
    from pathlib import Path

    for out in map(Path, outputs):
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".csv":
            table.to_csv(out, index=False)
        elif out.suffix == ".md":
            out.write_text(f"{' '.join(caption.split())}\n\n{markdown_body.rstrip()}\n")
        else:
            raise SystemExit(f"unknown table format {out.suffix!r} for {out}; use .csv or .md")


def render_main(
    module: str, registry: Registry, render: Callable[[str, str, list[str]], None], formats: str,
    argv: list[str] | None = None,
) -> None:
    p = argparse.ArgumentParser(prog=f"python -m {module}", description=f"Render one {registry.kind}.")
    p.add_argument("name", help=f"one of {', '.join(registry.names())}")
    p.add_argument("--store", required=True, help="the merged study.zarr")
    p.add_argument("--out", nargs="+", required=True, help=f"output files ({formats})")
    a = p.parse_args(argv)
    registry.check(a.name)
    render(a.name, a.store, a.out)
