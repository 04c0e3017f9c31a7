"""Atomic writes: a writer that dies midway leaves the previous file (or none) and no litter."""
import json

import pytest

from osrstudy import atomic


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "record.json"
    atomic.write_json(target, {"done": 1})

    def dies_midway(tmp):
        tmp.write_text('{"do')
        raise KeyboardInterrupt  # a killed process

    with pytest.raises(KeyboardInterrupt):
        atomic.write_file(target, dies_midway)
    assert json.loads(target.read_text()) == {"done": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_the_temporary_name_ends_as_the_writer_needs(tmp_path):
    np = pytest.importorskip("numpy")
    target = tmp_path / "cache.npz"
    atomic.write_file(target, lambda tmp: np.savez(tmp, a=np.arange(3)), suffix=".npz")
    with np.load(target) as saved:
        assert saved["a"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"]
