"""The Jacobian-budget benchmark: the held-out AUROC of the jacobian scorer, exact vs on the
subsample a test budget keeps."""
import pytest

from osrstudy.benchmarks import jacobian_budget
from osrstudy.run import execute
from osrstudy.store import open_run


def test_the_shift_is_zero_above_the_test_size_and_a_budgeted_run_is_left_out(tmp_path, tiny_spec):
    exact, budgeted = tiny_spec(), tiny_spec({"jacobian_after": {"test": 30}})
    quiet = dict(threads=1, log=lambda _: None)
    execute(exact, tmp_path / "runs" / "exact.zarr", tmp_path / "ckpt", **quiet)
    execute(budgeted, tmp_path / "budgeted" / "cut.zarr", tmp_path / "ckpt", **quiet)
    samples, results = open_run(tmp_path / "runs" / "exact.zarr")
    n_test = int((samples.partition == "test").sum())
    row = jacobian_budget.auroc_shifts(tmp_path / "runs" / "exact.zarr", [30, n_test])
    held_out = results.results.sel(eval_set="held_out", scorer="jacobian", metric="auroc").item()
    assert row["test"] == n_test and row["exact"] == pytest.approx(100 * held_out)
    assert row[n_test] == 0.0 and row[30] != 0.0
    budgeted_row_of = jacobian_budget.auroc_shifts(tmp_path / "budgeted" / "cut.zarr", [30])
    assert budgeted_row_of is None  # its test samples lack norms: nothing exact to compare with
    with pytest.raises(SystemExit, match="no run store"):
        jacobian_budget.main([str(tmp_path / "budgeted")])
