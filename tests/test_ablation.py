"""Table 3 rows as configs: the mapping, its markings, and the committed config."""
from pathlib import Path

import pytest

from osrstudy.ablation import ablation_blocks, loss_entry, table3
from osrstudy.study import expand_study, load_study

ROOT = Path(__file__).resolve().parents[1]


def test_every_row_has_switches_a_status_and_the_papers_numbers():
    t = table3()
    assert set(t["rows"]) == {"baseline", "movr", *"abcdefghijk", "ours"}
    for name, row in t["rows"].items():
        assert set(row["switches"]) == {"ovr", "N", "m", "W", "A", "S"}, name
        assert row["status"] in ("certain", "reconstructed") and row["why"], name
        assert len(row["paper"]) == len(t["datasets"]) and all(len(c) == 3 for c in row["paper"]), name
    certain = {n for n, r in t["rows"].items() if r["status"] == "certain"}
    assert certain == {"baseline", "movr", "g", "j", "k", "ours"}
    # the duplicated numbers of rows i and j are flagged, not silently trusted
    assert t["rows"]["i"]["paper"] == t["rows"]["j"]["paper"] and t["rows"]["i"].get("paper_unreliable")


def test_one_out_rows_each_remove_a_different_component():
    rows = table3()["rows"]
    full = rows["ours"]["switches"]
    removed = []
    for name in "abcdj":
        off = [k for k, v in rows[name]["switches"].items() if full[k] and not v]
        removed.append(tuple(off))
    assert removed == [("ovr",), ("N", "m"), ("W",), ("A",), ("S",)]
    assert [k for k, v in rows["k"]["switches"].items() if not v] == ["m"]


@pytest.mark.parametrize(
    "switches, entry",
    [({"ovr": True, "N": True, "m": True},
      {"name": "movr", "options": {"normalize": True, "margin": 0.5, "scale_T": 32.0}}),
     ({"ovr": True, "N": False, "m": False},
      {"name": "movr", "options": {"normalize": False, "margin": 0.0, "scale_T": 1.0}}),
     ({"ovr": False, "N": True, "m": True}, {"name": "nsce", "options": {"margin": 0.5}}),
     ({"ovr": False, "N": False, "m": False}, {"name": "sce", "options": {}})],
)
def test_switches_map_to_losses(switches, entry):
    assert loss_entry(switches) == entry


def test_margin_without_normalisation_is_refused():
    with pytest.raises(ValueError, match="unit-normalised"):
        loss_entry({"ovr": True, "N": False, "m": True})


def test_committed_ablation_config_matches_the_mapping_and_expands():
    study = load_study(ROOT / "config" / "ablation_digits.yaml")
    base = {k: study["blocks"]["table3_ours"][k] for k in ("datasets", "splits", "backbones", "embed_dims", "seeds")}
    assert study["blocks"] == ablation_blocks(base)
    runs = expand_study(study)
    assert len(runs) == 14 * 3  # every row is a distinct model on each of 3 splits
    ours = [r["train"] for r in runs if "table3_ours" in r["blocks"]][0]
    switches = (ours["loss"], ours["augment"], ours["self_supervision"], ours["weight_decay"])
    assert switches == ("movr", "crop_flip", 0.1, 1e-3)
