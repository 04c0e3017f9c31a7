"""No lost runs, no silently wrong numbers: damaged stores, failed merges, stale merged stores and
two configs sharing a name, each reproduced on a real snakemake study on disk (copied per test
with `cp -a`, which keeps the hard links between run stores and study.zarr)."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import xarray as xr
import yaml
from conftest import TINY
from test_workflow import snakemake, write_study

from osrstudy import manifest
from osrstudy.merged_store import open_study
from osrstudy.store import open_run
from osrstudy.study_frames import StudyView

pytestmark = pytest.mark.slow
NAME = "reliable"


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("reliable")
    study = {**TINY, "name": NAME, "training": {"epochs": 3, "batch_size": 32, "checkpoint_every": 1},
             "blocks": {"protocol_a": TINY["blocks"]["t"]}}
    config = write_study(workdir, study)
    snakemake(workdir, "--cores", "2", "--config", f"study={config}")
    return workdir, config


@pytest.fixture
def study(finished_study, tmp_path):
    """A private copy of the finished study: (workdir, config, results folder)."""
    source, config = finished_study
    workdir = tmp_path / "study"
    subprocess.run(["cp", "-a", str(source), str(workdir)], check=True)
    return workdir, config, workdir / "results" / NAME


def run_stores(results):
    return sorted((results / "runs").glob("*.zarr"))


def first_chunk(store, array="embedding"):
    return next(p for p in sorted((store / array).iterdir()) if not p.name.startswith("."))


def trained(log: str) -> int:
    """How many train jobs snakemake ran (its job-stats table)."""
    rows = [line.split() for line in log.splitlines() if line.startswith("train ")]
    return int(rows[0][1]) if rows else 0


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_damaged_run_store_is_an_error_and_snakemake_reruns_only_that_run(study, damage):
    workdir, config, results = study
    store = run_stores(results)[0]
    before = open_run(store)[1].results.values
    chunk = first_chunk(store)
    if damage == "truncate":
        chunk.write_bytes(chunk.read_bytes()[:-7])
    else:
        chunk.unlink()
    # before: a truncated chunk decoded into garbage, a deleted one into NaN, and merged with exit 0
    with pytest.raises(manifest.DamagedStoreError, match=r"(?s)is damaged:.*array embedding.*rerun its train job"):
        open_run(store)
    merged = StudyView.open(results / "study.zarr")
    if damage == "truncate":  # study.zarr's hard link to the chunk shares the damage
        with pytest.raises(manifest.DamagedStoreError, match="array runs/.*/embedding"):
            merged.run(store.name.removesuffix(".zarr"))
    done = snakemake(workdir, "--cores", "2", "--config", f"study={config}")
    assert f"run store results/{NAME}/runs/{store.name} is damaged" in done.stderr
    assert trained(done.stdout + done.stderr) == 1
    np.testing.assert_array_equal(open_run(store)[1].results.values, before)  # same numbers, from its checkpoint
    assert len(list((results / "runs").glob("*.damaged-*"))) == 1  # moved aside, not deleted
    assert not manifest.problems(results / "study.zarr", full=True)


def test_verify_finds_altered_bytes_and_the_next_run_repairs_them(study):
    workdir, config, results = study
    store = run_stores(results)[1]
    chunk = first_chunk(store, "logits")
    data = bytearray(chunk.read_bytes())
    data[12] ^= 0xFF  # same size: only a checksum sees it
    chunk.write_bytes(bytes(data))
    checked = snakemake(workdir, "--cores", "1", "verify", "--config", f"study={config}", check=False)
    assert checked.returncode != 0
    assert "logits/0.0 (array logits): contents differ from their checksum" in checked.stdout + checked.stderr
    done = snakemake(workdir, "--cores", "2", "--config", f"study={config}")
    assert trained(done.stdout + done.stderr) == 1
    again = snakemake(workdir, "--cores", "1", "verify", "--config", f"study={config}")
    assert "every store is as it was written" in again.stdout + again.stderr


def test_a_failed_merge_leaves_the_previous_study_zarr_in_place(study):
    workdir, config, results = study
    before = (results / "study.zarr" / manifest.MANIFEST).read_text()
    store = run_stores(results)[0]
    data = bytearray(first_chunk(store).read_bytes())
    data[3] ^= 0xFF
    first_chunk(store).write_bytes(bytes(data))  # only the merge's full check sees it
    (workdir / config).write_text((workdir / config).read_text() + "\n")  # touching the config reruns the merge
    done = snakemake(workdir, "--cores", "2", "--config", f"study={config}", check=False)
    assert done.returncode != 0
    assert "contents differ from their checksum" in (results / "logs" / "merge.log").read_text()
    # before: snakemake deleted study.zarr before the merge ran, and the merge failed
    assert (results / "study.zarr" / manifest.MANIFEST).read_text() == before
    xr.open_zarr(results / "study.zarr")  # still there, still readable


def test_a_stale_study_zarr_is_re_evaluated_not_redrawn(study):
    workdir, config, results = study
    shutil.rmtree(results / "runs")  # the README allows it: study.zarr holds every run
    quiet = snakemake(workdir, "--cores", "2", "--config", f"study={config}")
    assert trained(quiet.stdout + quiet.stderr) == 0
    settings = yaml.safe_load((workdir / config).read_text())
    settings["evaluation"] = {"scorers": ["msp", "maxlogit", "loss"]}
    (workdir / config).write_text(yaml.safe_dump(settings))
    done = snakemake(workdir, "--cores", "2", "--config", f"study={config}")
    # before: exit 0, and the figures redrawn from the old study.zarr
    assert "study.zarr holds 2 run(s) with other settings than the study now gives them" in done.stderr
    assert "re-evaluated from their checkpoints" in done.stderr and "(2 found)" in done.stderr
    assert trained(done.stdout + done.stderr) == 2
    assert all("resumed from" in p.read_text() for p in (results / "logs" / "train").glob("*.log"))
    merged = open_study(results / "study.zarr")
    assert list(merged["scorer"].values) == ["msp", "maxlogit", "loss"]


def test_damaged_study_attributes_are_rebuilt_not_a_traceback(study):
    workdir, config, results = study
    (results / "study.zarr" / ".zattrs").write_text("{not json")
    done = snakemake(workdir, "--cores", "2", "--config", f"study={config}")
    assert "study.zarr is damaged" in done.stderr and "the merge rebuilds it" in done.stderr
    assert json.loads((results / "study.zarr" / ".zattrs").read_text())["study"] == NAME


def test_two_study_configs_with_one_name_are_refused(study):
    workdir, config, _ = study
    other = workdir / "config" / "other.yaml"
    other.write_text((workdir / config).read_text())
    done = snakemake(workdir, "-n", "--config", "study=config/other.yaml", check=False)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert f"holds the results of the study config {config}, and config/other.yaml has the same name" in said
