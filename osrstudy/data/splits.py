"""The published open-set splits shipped as package data (osr_splits.yaml, provenance in its
header); indexed directly (split i is list i), as GoodOSR does, not in ARPL's reversed order."""
from __future__ import annotations

from importlib import resources

import yaml


def split_lists(name: str) -> dict:
    """One benchmark's lists from osrstudy/data/osr_splits.yaml (provenance in its header)."""
    text = resources.files("osrstudy.data").joinpath("osr_splits.yaml").read_text()
    return yaml.safe_load(text)[name]


def published_splits(name: str) -> list[list[int]]:
    """Known-class lists shipped in osrstudy/data/osr_splits.yaml."""
    return split_lists(name)["known"]
