# Loads and checks the study config, expands it into the run table, and defines shared paths.
import json
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from osrstudy.study import StudyConfigError, block_counts, expansion, job_spec, load_study

# No configfile: directive: snakemake deep-merges config files, which would mix the demo into a study.
STUDY_PATH = config.get("study", "config/demo.yaml")
try:
    STUDY = load_study(STUDY_PATH)
    validate(STUDY, "../schemas/study.schema.yaml")
    _runs, SKIPPED = expansion(STUDY)
    RUNS = {run["run_id"]: run for run in _runs}
except (StudyConfigError, KeyError, ValueError) as err:
    raise WorkflowError(f"{STUDY_PATH}: {err}") from None
# What the study trains, per block (a run several blocks need is trained once).
print(block_counts(STUDY, _runs, SKIPPED), file=sys.stderr)

OUT = f"results/{STUDY['name']}"
DATA_ROOT = STUDY.get("data_root") or "resources"
STUDY_ZARR = f"{OUT}/study.zarr"
RUN_STORE = f"{OUT}/runs/{{run_id}}.zarr"
envvars:
    "PATH",


# Rules call `python`: make it the interpreter running snakemake (the one with osrstudy installed),
# so `.venv/bin/snakemake` works without an activated virtual environment.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def merged_store(wildcards=None):
    """The merged store as an input edge, except when it already holds every run of the study and
    some run stores are gone: then figures and tables read it as it is instead of retraining."""
    attrs = Path(STUDY_ZARR, ".zattrs")
    if attrs.exists():
        merged = set(json.loads(attrs.read_text()).get("runs", []))
        stores_gone = any(not Path(RUN_STORE.format(run_id=r)).exists() for r in RUNS)
        if stores_gone and set(RUNS) <= merged:
            return []
    return [STUDY_ZARR]
