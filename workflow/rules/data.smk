# `snakemake data`: fetch every dataset the study needs into the data root (study key data_root,
# default resources/), verifying checksums and skipping verified files. It runs on the machine
# snakemake runs on (cluster compute nodes often have no network) and re-verifies on every call.
STUDY_DATASETS = sorted(
    {run["train"]["dataset"] for run in RUNS.values()}
    | {run["train"]["background"]["dataset"] for run in RUNS.values() if run["train"].get("background")}
)


rule data:
    log:
        f"{OUT}/logs/data.log",
    localrule: True
    conda:
        "../envs/osrstudy.yaml"
    params:
        datasets=" ".join(STUDY_DATASETS),
        root=DATA_ROOT,
    shell:
        "python -m osrstudy.data.download {params.datasets} --root {params.root} 2>&1 | tee {log}"
