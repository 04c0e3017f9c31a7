"""The rehearsal study covers the full study and stays in sync with it."""
from pathlib import Path

from osrstudy import rehearsal
from osrstudy.study import expansion, load_study

REPO = Path(__file__).resolve().parents[1]


def test_the_committed_rehearsal_is_what_the_generator_writes():
    assert (REPO / rehearsal.TARGET).read_text() == rehearsal.text(REPO / rehearsal.SOURCE), (
        "config/rehearsal.yaml is out of date: run `python -m osrstudy.rehearsal write`"
    )


def test_every_feature_of_the_full_study_is_in_a_rehearsal_run_cut_to_a_few_iterations():
    full, _ = expansion(load_study(REPO / rehearsal.SOURCE))
    cut, _ = expansion(load_study(REPO / rehearsal.TARGET))
    universe = set().union(*(rehearsal.features(r) for r in full))
    chosen = rehearsal.covering(full)
    assert set().union(*(rehearsal.features(r) for r in chosen)) == universe
    assert len(cut) == len(chosen) < len(full) / 10
    assert all(r["train"]["iterations"] == rehearsal.ITERATIONS for r in cut)
    caps = {"val": rehearsal.EVALUATION_CAP, "test": rehearsal.EVALUATION_CAP, "train": rehearsal.TRAIN_FEATURE_CAP}
    assert all(r["evaluation"]["max_samples"] == caps and rehearsal.BUDGETS.items() <= r["evaluation"].items()
               for r in cut)
    # everything else of each training config is the full study's own
    keys = {"dataset", "backbone", "loss", "loss_options", "embed_dim", "augment", "weight_decay", "batch_size", "lr"}
    assert {tuple(str(r["train"][k]) for k in sorted(keys)) for r in cut} <= {
        tuple(str(r["train"][k]) for k in sorted(keys)) for r in full}


def test_the_rehearsal_keeps_the_full_studys_block_names_so_every_figure_and_table_draws():
    """Its blocks bear the full study's names (`name.2`, ... for runs of one block that differ in
    more than their loss), so the merged rehearsal has every block each figure and table reads."""
    from osrstudy.figures import FIGURES
    from osrstudy.readers import matches
    from osrstudy.tables import TABLES

    blocks = list(load_study(REPO / rehearsal.TARGET)["blocks"])
    assert set(load_study(REPO / rehearsal.SOURCE)["blocks"]) <= set(blocks)
    for registry in (FIGURES, TABLES):
        for name in registry.names():
            missing = [p for p in registry[name].reads if not any(matches(b, (p,)) for b in blocks)]
            assert not missing, f"{name} reads {missing}: no rehearsal block"
