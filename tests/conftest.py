import copy

import pytest
from system_packages import FASHION_MNIST_DIR, ensure_fashion_mnist, ensure_slurm

from osrstudy.study import expand_study, job_spec

TINY = {
    "name": "tiny",
    "training": {"epochs": 4, "batch_size": 32, "checkpoint_every": 1},
    "blocks": {
        "t": {"datasets": ["digits"], "splits": [1], "backbones": ["small_cnn"], "embed_dims": [8],
              "losses": ["sce", "movr"]},
    },
}


def pytest_addoption(parser):
    parser.addoption("--reverse", action="store_true",
                     help="run the collected tests in reverse order "
                          "(shows a test that leans on another's side effects)")


# The files that take minutes (docs/testing.md), longest first: under pytest -n each file is one
# unit of work, handed out in this order, so the long ones start first and the short ones fill in
LONGEST_FIRST = ("test_demo_full.py", "test_slurm.py", "test_reliability.py", "test_workflow.py",
                 "test_one_writer.py", "test_launch.py", "test_jacobian.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: file order kept within
    if config.getoption("--reverse"):
        items.reverse()


@pytest.fixture(scope="session")
def fashion_mnist():
    """The real Fashion-MNIST idx files from Debian's package, installed on first use."""
    reason = ensure_fashion_mnist()
    if reason:
        pytest.skip(reason)
    return FASHION_MNIST_DIR


@pytest.fixture(scope="session")
def slurm_packages():
    """SLURM's packages (srun, sacct, the daemons), installed on first use; no cluster started."""
    reason = ensure_slurm()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def tiny_study():
    return copy.deepcopy(TINY)


@pytest.fixture
def tiny_specs(tiny_study):
    return {r["train"]["loss"]: job_spec(r) for r in expand_study(tiny_study)}


@pytest.fixture
def tiny_spec():
    """The job spec of the tiny study's m-OvR run (another loss with `losses=[...]`) under other
    settings: `evaluation` replaces the study's, `training` and block keys add to them (an
    evaluation alone keeps the run id)."""
    def spec(evaluation: dict | None = None, training: dict | None = None, **block) -> dict:
        study = copy.deepcopy(TINY)
        study["blocks"]["t"] = {**study["blocks"]["t"], "losses": ["movr"], **block}
        study["training"] = {**study["training"], **(training or {})}
        if evaluation is not None:
            study["evaluation"] = evaluation
        return job_spec(expand_study(study)[0])
    return spec
