"""Fetch what a study needs into the data root, verified, skipping what is already there.

Checksums are the ones torchvision and medmnist publish (read from those packages, not copied);
where none is published, a sha256 is recorded on first download (<root>/checksums.json) and
checked after. Downloading uses torchvision's download helpers (a maintained library, not
hand-written HTTP); "resumable" is per file: a rerun skips every file already present and
verified and fetches only the rest. Offline, it fails fast naming the file, its URL and where to
place it by hand.

    python -m osrstudy.data.download DATASET [DATASET ...] --root DATA_ROOT
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
import tarfile
import zipfile
from pathlib import Path

from osrstudy import atomic, manifest
from osrstudy.data import DATASETS
from osrstudy.data.base import Source
from osrstudy.data.ood import OOD_SETS, ood_sources

TIMEOUT_S = 30


class DataUnavailableError(RuntimeError):
    pass


def check(path: Path, source: Source, recorded: dict, key: str) -> bool | None:
    """None: absent. True: matches the published md5, or the recorded sha256 (a file seen for the
    first time has its sha256 recorded now). False: present but corrupt."""
    from torchvision.datasets.utils import check_integrity

    if not path.exists():
        return None
    if source.md5 is not None:
        return check_integrity(str(path), source.md5)
    digest = manifest.digest(path)
    return recorded.setdefault(key, digest) == digest


def fetch_source(source: Source, folder: Path, root: Path, recorded: dict) -> str:
    """Download one file (unless present and verified), then unpack it if asked. Returns what
    happened, for the log."""
    from torchvision.datasets.utils import download_url

    path, key = folder / source.filename, str((folder / source.filename).relative_to(root))
    stamp = folder / f".{source.filename}.extracted"
    state = check(path, source, recorded, key)
    if state:
        action = "present, verified"
    else:
        if state is False:  # keep the user's file for inspection, out of the way
            path.replace(path.with_name(path.name + ".corrupt"))
            stamp.unlink(missing_ok=True)
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(TIMEOUT_S)
        try:
            download_url(source.url, str(folder), source.filename, source.md5)
        except Exception as err:  # urllib raises several types; all mean "could not fetch"
            raise DataUnavailableError(
                f"could not download {source.filename} from {source.url} ({type(err).__name__}: {err}). "
                f"Download it where there is network and place it at {path}"
                + (f" (md5 {source.md5})" if source.md5 else "") + ", then rerun."
                + (f" The file that was there did not match its checksum: moved to {path.name}.corrupt."
                   if state is False else "")
            ) from None
        finally:
            socket.setdefaulttimeout(previous)
        if not check(path, source, recorded, key):
            raise DataUnavailableError(f"{source.url} gave no valid file at {path}; place it there by hand.")
        action = "downloaded, verified"
    if source.extract:
        action += unpack_verified(path, folder, stamp)
    return action


def archive_files(path: Path) -> list[str]:
    """The regular files an archive unpacks (paths relative to where it is unpacked)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [name for name in archive.namelist() if not name.endswith("/")]
    with tarfile.open(path) as archive:
        return [member.name for member in archive.getmembers() if member.isfile()]


def unpack_verified(path: Path, folder: Path, stamp: Path) -> str:
    """Unpack the (verified) archive unless what it unpacked before still matches the checksums
    recorded then in `stamp`; a damaged unpacked file (a truncated CIFAR pickle) is unpacked
    again. Returns what happened, for the log."""
    from torchvision.datasets.utils import extract_archive

    try:
        found = manifest.differences(folder, json.loads(stamp.read_text())["files"], full=True)
        if not found:
            return ", unpacked files verified"
        note = f", {len(found)} unpacked file(s) damaged ({found[0]}): unpacked again"
    except FileNotFoundError:
        note = ", extracted"
    except (ValueError, KeyError, TypeError):  # a stamp from before checksums were recorded
        note = ", unpacked again (no checksums recorded for the unpacked files)"
    extract_archive(str(path), str(folder))
    stamp.write_text(json.dumps({"files": manifest.entries_of(folder, archive_files(path))}))
    return note


def fetch(dataset: str, root: str | Path, log=print) -> None:
    """Fetch every source of a registered dataset into <root>/<its folder>."""
    if dataset in OOD_SETS:
        sources, subfolder = ood_sources(dataset), "ood"
    else:
        ds = DATASETS[dataset]()
        if where := ds.found_elsewhere(str(root)):
            log(f"{dataset}: found at {where}; nothing to download")
            return
        sources, subfolder = ds.sources(), ds.folder
    if not sources:
        log(f"{dataset}: nothing to download")
        return
    root = Path(root)
    folder = root / subfolder
    folder.mkdir(parents=True, exist_ok=True)
    record_path = root / "checksums.json"
    recorded = json.loads(record_path.read_text()) if record_path.exists() else {}
    try:
        for source in sources:
            log(f"{dataset}: {source.filename}: {fetch_source(source, folder, root, recorded)}")
    finally:
        if recorded:
            atomic.write_json(record_path, recorded, indent=1, sort_keys=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--root", required=True)
    args = parser.parse_args(argv)
    try:
        for name in args.datasets:
            fetch(name, args.root)
    except (DataUnavailableError, KeyError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
