"""Table 3 of the Jacobian-norm paper as study blocks: each row's switches become a loss entry and
training settings, so the rows are configs, not code. The row -> switch mapping (partly
reconstructed: the extraction lost tick marks) lives in papers/jacobian_norm_table3.yaml."""
from __future__ import annotations

import copy
from importlib import resources

import yaml

# The paper's defaults for each switch when on (section 6: T = 32, m = 0.5, lambda_self = 0.1,
# weight decay 1e-3); off is 0 / none.
MARGIN, WEIGHT_DECAY, SELF_SUPERVISION, AUGMENT = 0.5, 1e-3, 0.1, "crop_flip"


def table3() -> dict:
    text = resources.files("osrstudy.papers").joinpath("jacobian_norm_table3.yaml").read_text()
    return yaml.safe_load(text)


def loss_entry(switches: dict) -> dict:
    """m-OvR with N / m, or the SCE that substitutes for it: plain SCE, or N-SCE (with m)."""
    n, m = switches["N"], switches["m"]
    if m and not n:
        raise ValueError("a margin needs unit-normalised embeddings (N)")
    if switches["ovr"]:
        # T scales cosines in [-1, 1]; without N the logits are raw dot products, and T = 32 on
        # them diverged (NaN loss on digits), so T = 1 there: our reading, the paper is silent.
        options = {"normalize": n, "margin": MARGIN if m else 0.0, "scale_T": 32.0 if n else 1.0}
        return {"name": "movr", "options": options}
    if n:
        return {"name": "nsce", "options": {"margin": MARGIN if m else 0.0}}
    return {"name": "sce", "options": {}}


def training_switches(switches: dict) -> dict:
    return {
        "weight_decay": WEIGHT_DECAY if switches["W"] else 0.0,
        "augment": AUGMENT if switches["A"] else "none",
        "self_supervision": SELF_SUPERVISION if switches["S"] else 0.0,
    }


def ablation_blocks(base: dict, rows: list[str] | None = None, training: dict | None = None) -> dict:
    """One block per Table 3 row: `base` gives datasets / splits / backbones / embed_dims / seeds,
    `training` the settings shared by every row (a recipe, epochs, ...); the row sets the rest."""
    table = table3()["rows"]
    blocks = {}
    for name in rows or list(table):
        row = table[name]
        blocks[f"table3_{name}"] = {
            "description": f"Table 3 row {name} ({row['status']}): {row['why']}",
            **copy.deepcopy(base),
            "losses": [loss_entry(row["switches"])],
            "training": {**(training or {}), **training_switches(row["switches"])},
        }
    return blocks
