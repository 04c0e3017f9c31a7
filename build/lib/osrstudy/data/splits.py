"""The published open-set splits shipped as package data (osr_splits.yaml, provenance in its
header); indexed directly (split i is list i), as GoodOSR does, not in ARPL's reversed order."""
from __future__ import annotations

import copy
import functools
from importlib import resources

import yaml


@functools.cache
def _all_lists() -> dict:
    # Parsed once per process: expanding a study asks for these lists thousands of times.
    return yaml.safe_load(resources.files("osrstudy.data").joinpath("osr_splits.yaml").read_text())


def split_lists(name: str) -> dict:
    """One benchmark's lists from osrstudy/data/osr_splits.yaml (provenance in its header)."""
    return copy.deepcopy(_all_lists()[name])


def published_splits(name: str) -> list[list[int]]:
    """Known-class lists shipped in osrstudy/data/osr_splits.yaml."""
    return split_lists(name)["known"]
