"""Golden values: what a refactor must not change.

Run ids and job specs of every committed study config (a changed id retrains a run; on the full
study, a thousand GPU jobs), and the stored numbers of a few small runs that cross every stage of
a run (own and fitted logit heads, normalised and prototype losses, augmentation, self-supervision,
an out-of-distribution eval set). The values were recorded before the run pipeline was split into
stages. To change them on purpose, regenerate with `python tests/test_golden.py` and say why in
the commit.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from osrstudy.study import expand_study, expansion, job_spec, load_study
from osrstudy.study_state import spec_hash

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
CONFIGS = sorted(p.name for p in (ROOT / "config").glob("*.yaml"))
RUNS = {
    "name": "golden",
    "training": {"epochs": 3, "batch_size": 32, "checkpoint_every": 1},
    "evaluation": {"max_samples": {"val": 120, "test": 200}},
    "blocks": {
        "plain": {"datasets": ["digits"], "splits": [1], "backbones": ["small_cnn"], "embed_dims": [8],
                  "losses": ["sce", "movr", "simplex"], "eval_sets": ["gaussian_noise"]},
        "switches": {"datasets": ["digits"], "splits": [0], "backbones": ["small_cnn"], "embed_dims": [8],
                     "losses": ["movr"], "training": {"augment": "crop_flip", "self_supervision": 0.1}},
    },
}


def config_fingerprint(name: str) -> dict:
    runs, skipped = expansion(load_study(ROOT / "config" / name))
    ids = sorted(r["run_id"] for r in runs)
    specs = sorted(spec_hash(job_spec(r)) for r in runs)
    return {"runs": len(ids), "skipped": len(skipped),
            "run_ids": hashlib.sha256(" ".join(ids).encode()).hexdigest(),
            "specs": hashlib.sha256(" ".join(specs).encode()).hexdigest()}


def store_numbers(path: Path) -> dict:
    """Every number a run store holds that its seed decides (times and hosts left out)."""
    samples = xr.open_zarr(path).load()
    summary = xr.open_zarr(path, group="summary").load()
    numbers = {name: np.asarray(summary[name].values, dtype=float).ravel().tolist() for name in summary.data_vars}
    for name, array in samples.data_vars.items():
        values = np.asarray(array.values, dtype=float)
        numbers[f"sum:{name}"] = [float(np.nansum(values)), float(np.nansum(values**2))]
    numbers["coords"] = {name: [str(v) for v in summary[name].values] for name in summary.coords}
    return numbers


@pytest.mark.parametrize("name", CONFIGS)
def test_run_ids_and_specs_of_every_committed_config_are_unchanged(name):
    recorded = json.loads((GOLDEN / "configs.json").read_text())
    assert name in recorded, f"config/{name} is new: record it with `python tests/test_golden.py`"
    assert config_fingerprint(name) == recorded[name], (
        f"config/{name}: run ids or job specs changed. Every changed id retrains a run; if that is "
        "intended, regenerate tests/golden with `python tests/test_golden.py` and say why"
    )


@pytest.mark.slow
@pytest.mark.parametrize("index", range(4))
def test_stored_numbers_of_small_runs_are_unchanged(index, tmp_path):
    from osrstudy.run import execute

    recorded = json.loads((GOLDEN / "runs.json").read_text())
    spec = job_spec(expand_study(RUNS)[index])
    assert spec["run_id"] in recorded, f"{spec['run_id']} has no golden numbers: run `python tests/test_golden.py`"
    execute(spec, tmp_path / "run.zarr", threads=1, log=lambda _: None)
    numbers, golden = store_numbers(tmp_path / "run.zarr"), recorded[spec["run_id"]]
    assert numbers["coords"] == golden["coords"]
    assert numbers.keys() == golden.keys()
    for name in golden.keys() - {"coords"}:
        # a relative 1e-6: float noise between CPUs of one kind passes, any change of method does not
        np.testing.assert_allclose(numbers[name], golden[name], rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=name)


def record() -> None:
    """Write the golden values from the code as it is now."""
    import tempfile

    from osrstudy.run import execute

    GOLDEN.mkdir(exist_ok=True)
    configs = {name: config_fingerprint(name) for name in CONFIGS}
    (GOLDEN / "configs.json").write_text(json.dumps(configs, indent=1, sort_keys=True) + "\n")
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in expand_study(RUNS):
            spec = job_spec(run)
            execute(spec, Path(tmp) / f"{spec['run_id']}.zarr", threads=1, log=lambda _: None)
            runs[spec["run_id"]] = store_numbers(Path(tmp) / f"{spec['run_id']}.zarr")
    (GOLDEN / "runs.json").write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(configs)} configs and {len(runs)} runs in {GOLDEN}")


if __name__ == "__main__":
    sys.exit(record())
