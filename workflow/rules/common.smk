# Loads and checks the study config, expands it into the run table, and defines shared paths.
import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from osrstudy.launch import LAUNCHERS
from osrstudy.planned_study import mixed_settings
from osrstudy.readers import applies
from osrstudy.registry import did_you_mean
from osrstudy.study import StudyConfigError, block_counts, expansion, job_spec, load_study, study_evaluation
from osrstudy.study_state import claim_results_folder, damaged_run_stores, merged_state, stale_message

# No configfile: directive: snakemake deep-merges config files, which would mix the demo into a study.
STUDY_PATH = config.get("study", "config/demo.yaml")
try:
    STUDY = load_study(STUDY_PATH)
    validate(STUDY, "../schemas/study.schema.yaml")
    _runs, SKIPPED = expansion(STUDY)
    RUNS = {run["run_id"]: run for run in _runs}
    # a table that would refuse its runs when it renders refuses them now, before they train
    if refusals := mixed_settings(_runs, study_evaluation(STUDY)):
        raise StudyConfigError(
            f"{len(refusals)} figure(s) or table(s) would refuse this study's runs after "
            "training; nothing has started:\n" + "\n".join(refusals)
        )
    claim_results_folder(Path("results", STUDY["name"]), STUDY_PATH)
except (StudyConfigError, KeyError, TypeError, ValueError) as err:
    raise WorkflowError(f"{STUDY_PATH}: {err}") from None
LAUNCHER = config.get("launcher", "local")
if LAUNCHER not in LAUNCHERS:
    raise WorkflowError(
        f"--config launcher={LAUNCHER}: unknown launcher.{did_you_mean(LAUNCHER, list(LAUNCHERS))} "
        f"Choose one of: {', '.join(LAUNCHERS)}."
    )
# What the study trains, per block (a run several blocks need is trained once).
print(block_counts(STUDY, _runs, SKIPPED), file=sys.stderr)

OUT = f"results/{STUDY['name']}"
DATA_ROOT = STUDY.get("data_root") or "resources"
STUDY_ZARR = f"{OUT}/study.zarr"
MERGED = f"{OUT}/merged.json"  # the merge's output: study.zarr itself is replaced atomically, never pre-deleted
RUN_STORE = f"{OUT}/runs/{{run_id}}.zarr"
CHECKPOINTS = f"{OUT}/checkpoints"


envvars:
    "PATH",


# Rules call `python`: make it the interpreter running snakemake (the one with osrstudy installed),
# so `.venv/bin/snakemake` works without an activated virtual environment.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


# A damaged run store (a file missing or of another size than its manifest says) is moved aside,
# so only that run reruns; full checksums are `snakemake verify`.
DAMAGED = damaged_run_stores({r: Path(RUN_STORE.format(run_id=r)) for r in RUNS}, workflow.dryrun)
for message in DAMAGED:
    print(message, file=sys.stderr)


def merged_input():
    """The merge as an input edge, except when study.zarr is intact, holds every run as the study
    now defines it, and some run stores are gone (deleted by the user): then figures and tables
    read it as it is instead of retraining. A stale or damaged study.zarr is never drawn from: the
    runs it lacks are re-evaluated (from their checkpoints) and merged again."""
    state = merged_state(Path(STUDY_ZARR), Path(MERGED), {r: job_spec(run) for r, run in RUNS.items()})
    stores_gone = any(not Path(RUN_STORE.format(run_id=r)).exists() for r in RUNS)
    if state is None:
        return [MERGED]
    if not (state.damage or DAMAGED or (stores_gone and not state.current)):
        return [] if stores_gone else [MERGED]
    if state.damage:
        print(f"{STUDY_ZARR} is damaged ({state.damage}); the merge rebuilds it", file=sys.stderr)
    elif state.changed:  # (damaged run stores were named above; new runs are simply trained)
        print(stale_message(state.changed, Path(CHECKPOINTS)), file=sys.stderr)
    # snakemake does not rerun a job whose output exists when one of its inputs is missing: drop
    # the merge's receipt (study.zarr stays until the new one replaces it)
    if not workflow.dryrun:
        Path(MERGED).unlink(missing_ok=True)
    return [MERGED]


MERGED_INPUT = merged_input()


def merged_store(wildcards=None):
    return MERGED_INPUT


def study_input(registry, name):
    """The merged store, for a figure or table that reads study blocks (none for the synthetic ones)."""
    return merged_store() if registry[name].reads else []
