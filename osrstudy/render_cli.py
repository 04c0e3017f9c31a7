"""The command line shared by the figure and table renderers: NAME --store STUDY --out FILES."""
from __future__ import annotations

import argparse
from typing import Callable

from osrstudy.registry import Registry


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
