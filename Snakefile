# osrstudy: the open-set recognition study. Targets: all (default), figures, tables, data.
# Which study runs is one config key: snakemake --config study=config/study.yaml (default: the demo).
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/tables.smk"


# Under a cluster executor (the slurm profile's `executor: osrstudy`) only `train` leaves this machine.
localrules:
    all,
    data,
    merge,
    verify,
    figure,
    figures,
    table,
    tables,


rule all:
    default_target: True
    input:
        merged_store,
        rules.figures.input,
        rules.tables.input,
