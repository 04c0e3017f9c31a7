"""osrstudy: a workflow-orchestrated study of open-set recognition.

Light on import: heavy modules (torch) load only when used, so the launcher that waits on each
job stays small.
"""
__version__ = "0.1.0"


def open_study(path, full_check: bool = False):
    """The merged study as an xarray DataTree: root = per-run summaries, runs/<run_id> = samples.
    Its files are checked against the store's manifest first (sizes; checksums with full_check)."""
    from osrstudy.merged_store import open_study as _open

    return _open(path, full_check)


__all__ = ["open_study", "__version__"]
