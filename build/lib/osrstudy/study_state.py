"""What is on disk for a study, checked when snakemake builds its DAG (before any job starts):
damaged run stores, a merged store older than the study's evaluation settings, and a results
folder that another study config already writes to.

Each check is cheap at a thousand runs (sizes from the manifests, JSON attributes); full
checksums are `snakemake verify`'s job (osrstudy.verify).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from osrstudy import manifest

OWNER_FILE = ".study-config"


def spec_hash(spec: dict) -> str:
    """Everything a run's store depends on: training and evaluation settings (its job spec)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def move_aside(store: Path) -> Path:
    aside = store.with_name(f"{store.name}.damaged-{dt.datetime.now():%Y%m%d-%H%M%S}")
    store.rename(aside)
    return aside


def damaged_run_stores(stores: dict[str, Path], dry_run: bool) -> list[str]:
    """Move aside every run store whose files differ in size from its manifest (or that has none),
    so snakemake retrains just those runs (from their checkpoints); one message each."""
    messages = []
    for run_id, store in stores.items():
        if not store.exists():
            continue
        found = manifest.damage(store)
        if not found:
            continue
        if dry_run:
            messages.append(f"run store {store} is damaged ({found[0]}); a real run moves it aside and reruns {run_id}")
        else:
            messages.append(f"run store {store} is damaged ({found[0]}); moved it to {move_aside(store)}: "
                            f"{run_id} reruns, resuming from its checkpoint")
    return messages


@dataclass
class MergedState:
    """How the merged store stands against the study: `current` when it is intact and holds every
    run with the settings the study has now; otherwise `changed` names the runs it holds with
    other settings (stale numbers), and `damage` what is wrong with its files."""

    current: bool = False
    changed: list[str] = field(default_factory=list)
    damage: str = ""


def merged_state(study_zarr: Path, receipt: Path, specs: dict[str, dict]) -> MergedState | None:
    """None when there is no merged store yet. Sizes are checked against its manifest (a stat per
    file: its run groups are hard links to the run stores, so damage to either shows here); a
    missing receipt means the last merge failed or `snakemake verify` found the store damaged."""
    attrs = study_zarr / ".zattrs"
    if not attrs.exists():
        return None
    if not receipt.exists():
        return MergedState(damage=f"no {receipt.name}: its last merge did not finish, or snakemake verify found damage")
    try:
        recorded = json.loads(json.loads(attrs.read_text())["run_specs"])
        damage = manifest.problems(study_zarr)
    except (ValueError, KeyError, TypeError, manifest.DamagedStoreError) as err:
        return MergedState(damage=f"{type(err).__name__}: {err}")
    if damage:
        return MergedState(damage=damage[0])
    hashes = {r: spec_hash(spec) for r, spec in specs.items()}
    changed = [r for r, h in hashes.items() if r in recorded and recorded[r] != h]
    return MergedState(current=recorded == hashes, changed=changed)


def stale_message(changed: list[str], checkpoints: Path) -> str:
    """Why snakemake re-evaluates runs that study.zarr holds (said only when it holds some with
    other settings: runs new to the study are simply trained)."""
    have = [r for r in changed if (checkpoints / f"{r}.pt").exists()]
    shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    line = (f"study.zarr holds {len(changed)} run(s) with other settings than the study now gives them (their "
            f"evaluation changed): {shown}. Their run stores are gone, so they are re-evaluated from their "
            f"checkpoints in {checkpoints} ({len(have)} found)")
    if len(have) < len(changed):
        line += f"; {len(changed) - len(have)} have no checkpoint and are trained from scratch"
    return line + "; the figures and tables are redrawn after the merge."


def claim_results_folder(out: Path, study_path: str | Path) -> None:
    """Record which study config writes to `out`; refuse a second config that shares its name."""
    ours = os.path.normpath(os.path.relpath(Path(study_path).resolve(), Path.cwd()))
    owner_file = out / OWNER_FILE
    if owner_file.exists():
        owner = owner_file.read_text().strip()
        if owner != ours:
            raise ValueError(
                f"{out} holds the results of the study config {owner}, and {ours} has the same name: "
                f"two configs would overwrite each other's study.zarr and figures. Give {ours} another "
                f"`name:` (or, if you renamed {owner} to {ours}, delete {owner_file})"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    owner_file.write_text(ours + "\n")
