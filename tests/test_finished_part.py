"""osrstudy.finished_part: a study still training, cut to what has finished, as a study of its
own whose run stores are hard links to the finished ones (same run ids: nothing retrains)."""
from __future__ import annotations

import pytest
import yaml

from osrstudy.finished_part import block_runs, finished_part, main
from osrstudy.study import expand_study, load_study

STUDY = {
    "name": "half",
    "training": {"epochs": 2, "batch_size": 32},
    "blocks": {
        "rows": {"datasets": ["digits"], "splits": [1, 2], "backbones": ["small_cnn"], "embed_dims": [8],
                 "losses": ["sce", "movr"]},
        "scan": {"datasets": ["digits"], "splits": [1, 2], "backbones": ["small_cnn"], "embed_dims": [8],
                 "losses": [{"name": "movr", "options": {"scale_T": t}} for t in (8.0, 16.0)]},
        "later": {"datasets": ["digits"], "splits": [3], "backbones": ["small_cnn"], "embed_dims": [8],
                  "losses": ["sce"]},
    },
}


def runs_of(study: dict, block: str, split: int, loss_index: int | None = None) -> list[str]:
    losses = study["blocks"][block]["losses"]
    narrowed = {"losses": [losses[loss_index]]} if loss_index is not None else {}
    return [r["run_id"] for r in block_runs(study, block, splits=[split], **narrowed)]


def finish(tmp_path, run_ids: list[str]) -> None:
    for run_id in run_ids:
        store = tmp_path / "results/half/runs" / f"{run_id}.zarr"
        store.mkdir(parents=True)
        (store / "zarr.json").write_text(run_id)


@pytest.fixture
def study_file(tmp_path):
    path = tmp_path / "config/half.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(STUDY))
    return path


def test_blocks_are_cut_to_their_finished_splits_and_losses(tmp_path, study_file, capsys):
    study = load_study(study_file)
    finish(tmp_path, runs_of(study, "rows", 1) + runs_of(study, "rows", 2, 0) + runs_of(study, "scan", 1, 0))
    main([str(study_file), "--results", str(tmp_path / "results")])
    out = tmp_path / "config/half_finished.yaml"
    assert f"study={out}" in capsys.readouterr().out
    part = load_study(out)
    assert part["name"] == "half_finished"
    assert set(part["blocks"]) == {"rows", "scan"}  # 'later' has nothing finished
    assert part["blocks"]["rows"]["splits"] == [1]  # split 2 lacks movr
    assert part["blocks"]["scan"]["splits"] == [1]  # no split complete: the one furthest along
    assert [loss["options"]["scale_T"] for loss in part["blocks"]["scan"]["losses"]] == [8.0]
    expected = set(runs_of(study, "rows", 1) + runs_of(study, "scan", 1, 0))
    assert {r["run_id"] for r in expand_study(part)} == expected  # the same run ids
    for run_id in expected:
        original = tmp_path / "results/half/runs" / f"{run_id}.zarr/zarr.json"
        linked = tmp_path / "results/half_finished/runs" / f"{run_id}.zarr/zarr.json"
        assert linked.stat().st_ino == original.stat().st_ino  # a hard link, not a copy


def test_a_block_with_no_complete_split_is_cut_to_the_split_furthest_along(tmp_path, study_file):
    study = load_study(study_file)
    finish(tmp_path, runs_of(study, "rows", 1, 0) + runs_of(study, "scan", 2, 0))
    finish(tmp_path, runs_of(study, "rows", 2, 1))  # one loss on each split: a tie, the earlier split
    _, kept, _ = finished_part(study_file, tmp_path / "results")
    assert kept["scan"]["splits"] == [2]  # split 1 has nothing of it
    assert kept["rows"]["splits"] == [1] and kept["rows"]["losses"] == ["sce"]


def test_again_later_keeps_what_is_linked_and_adds_what_finished(tmp_path, study_file):
    study = load_study(study_file)
    finish(tmp_path, runs_of(study, "rows", 1))
    finished_part(study_file, tmp_path / "results")
    finish(tmp_path, runs_of(study, "rows", 2))
    _, kept, n = finished_part(study_file, tmp_path / "results")
    assert kept["rows"]["splits"] == [1, 2] and n == 4


def test_nothing_finished_says_so(tmp_path, study_file):
    with pytest.raises(SystemExit, match="has a finished run in .*nothing to read yet"):
        finished_part(study_file, tmp_path / "results")
