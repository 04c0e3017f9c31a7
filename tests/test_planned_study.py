"""The planned study: the refusal a table makes when it renders (runs of different settings in one
mean) is made from the config, before any job starts, with the same checks on the same runs."""
from __future__ import annotations

import copy
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

import osrstudy.figures
import osrstudy.tables
from osrstudy import study_frames
from osrstudy.planned_study import mixed_settings, planned_root
from osrstudy.readers import Selection, applies
from osrstudy.study import expansion, load_study, study_evaluation
from osrstudy.study_frames import StudyView

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p.name for p in (REPO / "config").glob("*.yaml"))


def refusals(study: dict) -> list[str]:
    runs, _ = expansion(study)
    return mixed_settings(runs, study_evaluation(study))


@pytest.mark.parametrize("name", CONFIGS)
def test_no_shipped_config_is_refused(name):
    assert refusals(load_study(REPO / "config" / name)) == []


def test_a_block_named_into_the_geometry_tables_with_other_known_classes_is_refused():
    """The convergence config's K = 4 block is not named geometry* for this reason; named so, its
    learned-prototype runs would join the K = 6 ones in the geometry tables' means."""
    study = load_study(REPO / "config/fashion_mnist_convergence.yaml")
    study["blocks"]["geometry_k4"] = study["blocks"].pop("four_known_classes")
    found = refusals(study)
    tables = {line.split(":")[0] for line in found}
    assert {"table geo_table3_geometry", "table geo_table4_best_scorer", "figure prototype_jacobian_norms"} <= tables
    line = next(f for f in found if f.startswith("table geo_table3_geometry"))
    assert "n_known: 4, 6" in line and "blocks geometry, geometry_k4" in line
    assert "give the other setting a block name this table does not read" in line


def test_a_table3_row_of_two_scales_is_refused_after_the_rows_before_it_are_checked(monkeypatch):
    """Table 3 checks row after row: the planned store carries it past the first rows to the mixed one."""
    study = load_study(REPO / "config/fashion_mnist_convergence.yaml")
    row_k = study["blocks"]["table3_k"]
    second = copy.deepcopy(row_k["losses"][0])
    second["options"]["scale_T"] = 16.0
    row_k["losses"].append(second)
    found = [f for f in refusals(study) if f.startswith("table jn_table3_")]
    assert {f.split(":")[0] for f in found} == {"table jn_table3_ablation", "table jn_table3_readings"}
    assert all("row k" in f and "scale_T: 16.0, 32.0" in f for f in found), found
    made = replicate_checks(planned_view(study), monkeypatch)
    rows = [what for what, _, _ in made["jn_table3_ablation"]]
    assert rows[-1] == "jn_table3_ablation's row k" and len(rows) > 1


def replicate_checks(view: StudyView, monkeypatch) -> dict[str, list]:
    """Every check_replicates call each applicable figure and table makes on `view`: (what, by, runs)."""
    calls: list = []

    def recorded(root, runs, by, what):
        calls.append((what, tuple(by), tuple(sorted(map(str, root.run.values[runs])))))
        return check(root, runs, by, what)

    check = study_frames.check_replicates
    for module in (osrstudy.tables, osrstudy.figures):
        monkeypatch.setattr(module, "check_replicates", recorded)
    made = {}
    for registry in (osrstudy.tables.TABLES, osrstudy.figures.FIGURES):
        for name in registry.names():
            fn = registry[name]
            if not fn.reads or not applies(fn, list(view.root.block.values)):
                continue
            calls.clear()
            try:
                fn(Selection(view, fn.reads))
            except Exception:  # noqa: BLE001 -- the planned store has no data to draw
                pass
            finally:
                plt.close("all")
            made[name] = list(calls)
    return made


def planned_view(study: dict) -> StudyView:
    runs, _ = expansion(study)
    return StudyView(planned_root(runs, study_evaluation(study)), Path("(planned)"), {})


def test_the_planned_store_reaches_every_check_the_convergence_config_makes(monkeypatch):
    made = replicate_checks(planned_view(load_study(REPO / "config/fashion_mnist_convergence.yaml")), monkeypatch)
    tables, figures = osrstudy.tables.TABLES, osrstudy.figures.FIGURES
    unchecked = [name for name in made if not (tables[name] if name in tables else figures[name]).averages]
    assert unchecked == ["block_summary"] and made["block_summary"] == []  # the pre-flight may skip it
    rows = [what for what, _, runs in made["jn_table3_ablation"] if runs]
    assert len(rows) == 8, rows  # every row of Table 3 the config trains: the six certain ones, a and b
    assert all(made[name] for name in ("geo_table3_geometry", "jn_fig15_hyperparameters", "jn_table3_readings"))
