"""Real snakemake runs of a tiny study in a temporary directory, through submitit's local executor."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from conftest import TINY

import osrstudy

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def snakemake(workdir, *args, check=True):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return done


def write_study(workdir, study):
    path = Path(workdir, "config", f"{study['name']}.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(study))
    return f"config/{study['name']}.yaml"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("study")
    # block named as in config/study.yaml, so the Protocol A figures and tables apply
    study = {**TINY, "training": {"epochs": 3, "batch_size": 32, "checkpoint_every": 1},
             "blocks": {"protocol_a": TINY["blocks"]["t"]}}
    config = write_study(workdir, study)
    snakemake(workdir, "--cores", "2", "--config", f"study={config}")
    return workdir, config


def test_merged_store_follows_the_results_contract(finished):
    workdir, _ = finished
    root = xr.open_zarr(workdir / "results/tiny/study.zarr")
    assert root.sizes["run"] == 2
    assert sorted(root.loss.values.tolist()) == ["movr", "sce"]
    for factor in ["dataset", "split", "backbone", "normalize", "margin", "scale_T", "embed_dim", "n_known", "seed"]:
        assert root[factor].dims == ("run",), factor
    assert root.results.dims == ("run", "eval_set", "scorer", "metric")
    assert {"auroc", "oscr", "accuracy", "fpr95", "aupr_in", "aupr_out", "detacc", "macro_f1"} <= set(
        root.metric.values)
    assert {"msp", "maxlogit", "energy", "loss", "jacobian", "ratio", "ratio_sq", "knn", "react", "vim", "odin",
            "openmax"} <= set(root.scorer.values)
    assert root.history.dims == ("run", "step", "quantity") and root.step.values.tolist() == [0, 1, 2, 3]
    assert root.geometry.dims == ("run", "diagnostic")
    assert {"dbi", "inter_class_distance", "mean_simplex_defect"} <= set(root.diagnostic.values)
    assert root.not_applicable.dims == ("run", "scorer") and (root.not_applicable == "").all()  # all apply
    auroc = root.results.sel(metric="auroc").values
    assert np.isfinite(auroc).all() and ((auroc > 0) & (auroc <= 1)).all()
    movr = root.where(root.loss == "movr", drop=True)
    assert movr.margin.item() == 0.5 and np.isnan(root.where(root.loss == "sce", drop=True).margin.item())
    assert root.attrs["study"] == "tiny" and len(root.attrs["git_commit"]) > 0

    tree = osrstudy.open_study(workdir / "results/tiny/study.zarr")
    for run_id in root.run.values:
        samples = tree["runs"][str(run_id)].to_dataset(inherit=False)
        assert samples.attrs["run_id"] == run_id
        assert {"embedding", "logits", "jacobian_norm", "jacobian_norm_init", "score_loss"} <= set(samples)
        # the per-sample scores reproduce the summary metric
        test = samples.partition.values == "test"
        from osrstudy.metrics import auroc as auroc_fn

        expected = auroc_fn(samples.score_loss.values[test], samples.label.values[test])
        assert root.results.sel(run=run_id, eval_set="held_out", scorer="loss", metric="auroc").item() == expected


def test_figures_and_tables_are_rendered(finished):
    workdir, _ = finished
    out = workdir / "results/tiny"
    for name in ["jn_fig03_jacobian_norms", "jn_fig05_training_dynamics", "jn_fig09_loss_vs_jacobian",
                 "geo_fig02_far_vs_dimension"]:
        for suffix in ["pdf", "png"]:
            assert (out / f"figures/{name}.{suffix}").stat().st_size > 10_000, name
    # a figure whose blocks the study lacks is not scheduled
    assert not (out / "figures/jn_fig07_k_scan.png").exists()
    csv = (out / "tables/jn_table1_protocol_a.csv").read_text().splitlines()
    assert csv[0] == "method,arch,dataset,metric,ours_mean,ours_std,n,paper,difference,paper_note" and len(csv) == 5
    markdown = (out / "tables/jn_table1_protocol_a.md").read_text()
    assert "| sce      | small_cnn" in markdown
    assert "±" not in markdown  # one split: each cell is the mean alone, no spread was measured
    tex = (out / "tables/jn_table1_protocol_a.tex").read_text()
    assert "\\begin{tabular}" in tex and "small\\_cnn" in tex
    far = (out / "tables/geo_table2_far_vs_dimension.csv").read_text().splitlines()
    assert far[0].startswith("d,K,tau,n_unknown,far_empirical,far_bound") and len(far) == 7


def test_report_holds_every_figure(finished, tmp_path):
    workdir, config = finished
    report = tmp_path / "report.html"
    snakemake(workdir, "--report", str(report), "--config", f"study={config}")
    html = report.read_text()
    rendered = sorted(p.stem for p in (workdir / "results/tiny/figures").glob("*.png"))
    assert len(rendered) >= 6 and all(f"{name}.png" in html for name in rendered)
    assert "regenerates Fig. 3" in html or "Figure 3" in html


def test_train_log_holds_the_job_output(finished):
    workdir, _ = finished
    logs = list((workdir / "results/tiny/logs/train").glob("*.log"))
    assert len(logs) == 2
    text = logs[0].read_text()
    assert "submitted to local as job" in text and "epoch 3/3" in text


def test_switching_launcher_or_resources_reruns_nothing(finished):
    workdir, config = finished
    done = snakemake(
        workdir, "-n", "--cores", "2", "--config", f"study={config}", "launcher=debug",
        "--set-resources", "train:jacobian_chunk=64",
    )
    assert "Nothing to be done" in done.stdout + done.stderr
    # nor does moving to SLURM with every setting the profile has
    done = snakemake(
        workdir, "-n", "--cores", "2", "--config", f"study={config}", "launcher=slurm",
        "--set-resources", "train:slurm_partition=gpu", "train:slurm_account=lab", "train:slurm_qos=high",
        "train:slurm_constraint=a100", "train:gpus=1", "train:cpus=8", "train:mem_mb=32000",
        "train:runtime=720", "train:pack=16", "train:pack_wait_s=60",
    )
    assert "Nothing to be done" in done.stdout + done.stderr
    # nor does the slurm profile's executor and its settings
    done = snakemake(
        workdir, "-n", "--executor", "osrstudy", "--jobs", "400", "--osrstudy-query-every-s", "60",
        "--config", f"study={config}", "launcher=slurm", "--set-resources", "train:gpus=1", "train:pack=16",
    )
    assert done.returncode == 0 and "Nothing to be done" in done.stdout + done.stderr


def test_figures_rerender_without_runs_and_without_training(finished, tmp_path):
    src, config = finished
    workdir = tmp_path / "copy"
    shutil.copytree(src, workdir, symlinks=True)
    shutil.rmtree(workdir / "results/tiny/runs")
    shutil.rmtree(workdir / "results/tiny/figures")
    shutil.rmtree(workdir / "results/tiny/tables")
    done = snakemake(workdir, "figures", "tables", "--cores", "2", "--config", f"study={config}")
    out = done.stdout + done.stderr
    assert "rule train" not in out and "rule merge" not in out
    assert (workdir / "results/tiny/figures/jn_fig03_jacobian_norms.png").exists()
    assert (workdir / "results/tiny/tables/jn_table1_protocol_a.csv").exists()
    # the default target too: the merged store holds every run, so nothing retrains
    again = snakemake(workdir, "-n", "--cores", "2", "--config", f"study={config}")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_config_typo_fails_before_any_job(tmp_path):
    study = {**TINY, "name": "typo"}
    study["blocks"] = {"t": {**TINY["blocks"]["t"], "losses": ["sce", "mvor"]}}
    config = write_study(tmp_path, study)
    done = snakemake(tmp_path, "--cores", "1", "--config", f"study={config}", check=False)
    assert done.returncode != 0
    assert "unknown loss 'mvor' (in blocks.t.losses). Did you mean 'movr'?" in done.stdout + done.stderr
    assert not (tmp_path / "results").exists()


def test_a_block_that_a_table_would_refuse_fails_before_any_job(tmp_path):
    """Before: a block named into a table's pattern with another setting (here a second geometry
    block with weight decay) trained, and the table refused its runs only when it rendered."""
    geometry = {**TINY["blocks"]["t"], "losses": ["sce", "learned"]}
    study = {**TINY, "name": "mixed", "blocks": {
        "geometry": geometry, "geometry_decay": {**geometry, "training": {"weight_decay": 0.001}}}}
    config = write_study(tmp_path, study)
    done = snakemake(tmp_path, "--cores", "1", "--config", f"study={config}", check=False)
    log = done.stdout + done.stderr
    assert done.returncode != 0
    assert "would refuse this study's runs after training; nothing has started" in log
    assert "table geo_table3_geometry: would average, for dataset digits, loss learned, runs of different " \
           "settings (weight_decay: 0.0005, 0.001) from blocks geometry, geometry_decay" in log
    assert not (tmp_path / "results" / "mixed").exists()


def test_launcher_typo_fails_before_any_job(tmp_path):
    """Before: the launcher name was checked only inside each train job."""
    config = write_study(tmp_path, {**TINY, "name": "launchtypo"})
    done = snakemake(tmp_path, "--cores", "1", "--config", f"study={config}", "launcher=slrum", check=False)
    assert done.returncode != 0
    assert "--config launcher=slrum: unknown launcher. Did you mean 'slurm'?" in done.stdout + done.stderr
    assert not (tmp_path / "results" / "launchtypo" / "runs").exists()


def test_workflow_lints_clean():
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0 and "Congratulations, your workflow is in a good condition!" in said, said


def test_data_target_fetches_or_says_where_to_put_files(tmp_path, fashion_mnist):
    study = {**TINY, "name": "datatest"}
    study["blocks"] = {"t": {**TINY["blocks"]["t"], "datasets": ["digits", "fashion_mnist"]}}
    config = write_study(tmp_path, study)
    done = snakemake(tmp_path, "--cores", "1", "data", "--config", f"study={config}")
    log = (tmp_path / "results/datatest/logs/data.log").read_text()
    assert "digits: nothing to download" in log and "fashion_mnist: found at" in log
    study["blocks"]["t"]["datasets"] = ["svhn"]
    study["blocks"]["t"]["backbones"] = ["classifier32"]
    config = write_study(tmp_path, study)
    done = snakemake(tmp_path, "--cores", "1", "data", "--config", f"study={config}", check=False)
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "train_32x32.mat" in out and "http://ufldl.stanford.edu/housenumbers/train_32x32.mat" in out
    assert "resources/svhn/train_32x32.mat" in out


def test_a_figure_without_its_models_says_so_instead_of_failing(finished, tmp_path):
    from osrstudy.figures import render

    workdir, _ = finished
    # the tiny study has no Table 3 rows: Figure 8 has nothing to compare
    render("jn_fig08_sce_vs_movr", workdir / "results/tiny/study.zarr", [str(tmp_path / "fig8.png")])
    assert (tmp_path / "fig8.png").stat().st_size > 1_000


def test_tables_use_the_loss_score_where_the_study_has_no_native_one(finished):
    import dataclasses

    from osrstudy.readers import Selection
    from osrstudy.study_frames import StudyView
    from osrstudy.tables import TABLES

    workdir, _ = finished
    view = StudyView.open(workdir / "results/tiny/study.zarr")
    table1 = TABLES["jn_table1_protocol_a"]

    def with_scorers(scorers):
        return Selection(dataclasses.replace(view, root=view.root.sel(scorer=scorers)), table1.reads)

    table = table1(with_scorers([s for s in view.root.scorer.values if s != "native"]))
    expected = table1(with_scorers(["loss"]))
    assert len(table) == 4 and table.ours_mean.notna().all() and table.equals(expected)
