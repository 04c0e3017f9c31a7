"""Checksums of every file of a store, written with it and checked by whatever reads it.

A Zarr store decodes a truncated chunk into garbage and a missing chunk into its fill value (NaN),
without a word; a wrong number in a table is worse than a crash. So each store carries
`.manifest.json`: the size and SHA-256 of every file in it. `problems(..., full=False)` compares
sizes only (a stat per file: cheap enough for snakemake to run over every store when it builds
its DAG); `full=True` hashes the contents too.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = ".manifest.json"
NOT_DATA = {MANIFEST, ".snakemake_timestamp"}  # snakemake adds the latter to every directory output


class DamagedStoreError(OSError):
    """A store whose files are missing, truncated or altered since it was written."""


def digest(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def files_of(store: Path) -> list[str]:
    return sorted(p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file() and p.name not in NOT_DATA)


def entries_of(store: Path, names: list[str] | None = None) -> dict[str, list]:
    """{relative path: [size, sha256]} for the named files of `store` (default: all of them)."""
    names = files_of(store) if names is None else names
    return {name: [(store / name).stat().st_size, digest(store / name)] for name in names}


def write(store: str | Path, entries: dict[str, list] | None = None) -> dict[str, list]:
    """Record the store's files (hashing them, unless `entries` are given) in its manifest."""
    store = Path(store)
    entries = entries_of(store) if entries is None else entries
    (store / MANIFEST).write_text(json.dumps({"format": 1, "files": entries}, sort_keys=True))
    return entries


def read(store: str | Path) -> dict[str, list]:
    store = Path(store)
    try:
        return json.loads((store / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        raise DamagedStoreError(f"store {str(store)!r} has no {MANIFEST}: it is incomplete, or was written "
                                "before stores carried checksums") from None
    except (ValueError, KeyError, TypeError) as err:
        raise DamagedStoreError(f"store {str(store)!r}: its {MANIFEST} is unreadable ({err})") from None


def array_of(name: str) -> str:
    """The array (or group) a store file belongs to: its folder, or the store root's metadata."""
    folder = name.rpartition("/")[0]
    return folder or "(store root metadata)"


def differences(root: Path, recorded: dict[str, list], full: bool, describe=str) -> list[str]:
    """Recorded files that are missing, of another size or (with `full`) other contents."""
    found = []
    for name, (size, sha) in recorded.items():
        path = root / name
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            found.append(f"{describe(name)}: missing")
            continue
        if actual != size:
            found.append(f"{describe(name)}: {actual} bytes, written as {size}")
        elif full and digest(path) != sha:
            found.append(f"{describe(name)}: contents differ from their checksum")
    return found


def problems(store: str | Path, full: bool = False, under: str = "", skip: tuple[str, ...] = (),
             recorded: dict[str, list] | None = None) -> list[str]:
    """What differs from the manifest, one line per file (empty: the store is as written). `under`
    limits the check to files below that folder; `skip` leaves out files below those folders;
    `recorded` is the manifest already read (a reader checking many parts reads it once)."""
    store = Path(store)

    def selected(name: str) -> bool:
        return name.startswith(under) and not any(name.startswith(s) for s in skip)

    recorded = {n: e for n, e in (read(store) if recorded is None else recorded).items() if selected(n)}
    found = differences(store, recorded, full, describe=lambda name: f"{name} (array {array_of(name)})")
    base = store / under if under else store
    extra = [n for n in (under + f for f in files_of(base)) if selected(n) and n not in recorded]
    found += [f"{name} (array {array_of(name)}): not written with the store" for name in extra]
    return found


def damage(store: str | Path, full: bool = False) -> list[str]:
    """`problems`, with a missing or unreadable manifest as one more problem instead of an error."""
    try:
        return problems(store, full)
    except DamagedStoreError as err:
        return [str(err)]


def verify(store: str | Path, fix: str, full: bool = True, under: str = "", skip: tuple[str, ...] = (),
           recorded: dict[str, list] | None = None) -> None:
    """Raise DamagedStoreError naming the store, its damaged arrays and `fix` if anything differs."""
    try:
        found = problems(store, full, under, skip, recorded)
    except DamagedStoreError as err:
        raise DamagedStoreError(f"{err}; {fix}") from None
    if found:
        shown = "\n  ".join(found[:10]) + (f"\n  ... and {len(found) - 10} more" if len(found) > 10 else "")
        raise DamagedStoreError(f"store {str(store)!r} is damaged:\n  {shown}\n{fix}")
