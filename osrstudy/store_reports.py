"""The command-line loop of the tools that read run stores one at a time (osrstudy.inter_class_gradient,
osrstudy.prototype_rays, osrstudy.ovr_loss_terms, osrstudy.prototype_drift): one JSON line per store, or the
first store's problem on stderr."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

import numpy as np
import xarray as xr


def print_reports(stores: list[str], report: Callable[[str], dict]) -> int:
    """Print `report(store)` for each store as a JSON line; exit status 2 at the first store it
    cannot read (a missing store, or one the report does not apply to), 0 otherwise."""
    for store in stores:
        try:
            line = report(store)
        except (ValueError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(json.dumps(line))
    return 0


def partition_samples(ds: xr.Dataset, store: str, partition: str) -> np.ndarray:
    """The mask of a run store's samples in `partition`; a ValueError naming the partitions it has
    when there are none."""
    chosen = ds.partition.values == partition
    if not chosen.any():
        raise ValueError(f"{store}: no sample of partition {partition!r} "
                         f"(it has {sorted(set(ds.partition.values.tolist()))})")
    return chosen


def partition_main(argv: list[str] | None, description: str, stores_help: str,
                   report: Callable[[str, str], dict]) -> int:
    """The command line `<stores> [--partition val]` of a per-store report(store, partition)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("stores", nargs="+", help=stores_help)
    parser.add_argument("--partition", default="test", help="test (default) or val")
    args = parser.parse_args(argv)
    return print_reports(args.stores, lambda store: report(store, args.partition))
