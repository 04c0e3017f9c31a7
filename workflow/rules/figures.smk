# Figures read only the merged store (see merged_store in common.smk).
from osrstudy.figures import FIGURES


rule figure:
    input:
        merged_store,
    output:
        pdf=f"{OUT}/figures/{{figure}}.pdf",
        png=f"{OUT}/figures/{{figure}}.png",
    params:
        store=STUDY_ZARR,
    log:
        f"{OUT}/logs/figures/{{figure}}.log",
    wildcard_constraints:
        figure="|".join(FIGURES.names()),
    conda:
        "../envs/osrstudy.yaml"
    shell:
        "python -m osrstudy.figures {wildcards.figure} --store {params.store}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule figures:
    input:
        expand(rules.figure.output, figure=FIGURES.names()),
