"""The command-line loop of the tools that read run stores one at a time (osrstudy.inter_class_gradient,
osrstudy.prototype_rays, osrstudy.ovr_loss_terms): one JSON line per store, or the first store's problem on stderr."""
from __future__ import annotations

import json
import sys
from typing import Callable


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
