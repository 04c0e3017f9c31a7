import copy

import pytest

from osrstudy.study import expand_study, job_spec

TINY = {
    "name": "tiny",
    "training": {"epochs": 4, "batch_size": 32, "checkpoint_every": 1},
    "blocks": {
        "t": {"datasets": ["digits"], "splits": [1], "backbones": ["small_cnn"], "embed_dims": [8],
              "losses": ["sce", "movr"]},
    },
}


@pytest.fixture
def tiny_study():
    return copy.deepcopy(TINY)


@pytest.fixture
def tiny_specs(tiny_study):
    return {r["train"]["loss"]: job_spec(r) for r in expand_study(tiny_study)}
