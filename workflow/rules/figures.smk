# One rule renders every figure: those that read study blocks from the merged store (see
# merged_store in common.smk), rendered when the study has such a block, and the theory's
# synthetic figures (reads=()), which need no study.
from osrstudy.figures import FIGURES

STUDY_FIGURES = [name for name in FIGURES.names() if applies(FIGURES[name], list(STUDY["blocks"]))]


rule figure:
    input:
        lambda wildcards: study_input(FIGURES, wildcards.figure),
    output:
        pdf=f"{OUT}/figures/{{figure}}.pdf",
        png=report(
            f"{OUT}/figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="Figures",
        ),
    log:
        f"{OUT}/logs/figures/{{figure}}.log",
    wildcard_constraints:
        figure="|".join(FIGURES.names()),
    conda:
        "../envs/osrstudy.yaml"
    params:
        store=STUDY_ZARR,
        caption=lambda wildcards: " ".join(FIGURES[wildcards.figure].__doc__.split()),
    shell:
        "python -m osrstudy.figures {wildcards.figure} --store {params.store}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule figures:
    input:
        expand(rules.figure.output, figure=STUDY_FIGURES),
