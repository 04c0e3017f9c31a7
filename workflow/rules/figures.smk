# Figures read only the merged store (see merged_store in common.smk); each is rendered when the
# study has a block it reads. Synthetic figures of the theory need no study.
from osrstudy.figures import FIGURES, applies
from osrstudy.synthetic import SYNTHETIC_FIGURES

STUDY_FIGURES = [name for name in FIGURES.names() if applies(name, list(STUDY["blocks"]))]


rule figure:
    input:
        merged_store,
    output:
        pdf=f"{OUT}/figures/{{figure}}.pdf",
        png=report(f"{OUT}/figures/{{figure}}.png", caption="../report/figure.rst", category="Figures"),
    params:
        store=STUDY_ZARR,
        caption=lambda wildcards: " ".join(FIGURES[wildcards.figure].__doc__.split()),
    log:
        f"{OUT}/logs/figures/{{figure}}.log",
    wildcard_constraints:
        figure="|".join(FIGURES.names()),
    conda:
        "../envs/osrstudy.yaml"
    shell:
        "python -m osrstudy.figures {wildcards.figure} --store {params.store}"
        " --out {output.pdf} {output.png} > {log} 2>&1"


rule synthetic_figure:
    output:
        pdf=f"{OUT}/figures/{{synthetic_figure}}.pdf",
        png=report(f"{OUT}/figures/{{synthetic_figure}}.png", caption="../report/figure.rst", category="Theory"),
    params:
        caption=lambda wildcards: " ".join(SYNTHETIC_FIGURES[wildcards.synthetic_figure].__doc__.split()),
    log:
        f"{OUT}/logs/figures/{{synthetic_figure}}.log",
    wildcard_constraints:
        synthetic_figure="|".join(SYNTHETIC_FIGURES.names()),
    conda:
        "../envs/osrstudy.yaml"
    shell:
        "python -m osrstudy.synthetic {wildcards.synthetic_figure} --out {output.pdf} {output.png} > {log} 2>&1"


rule figures:
    input:
        expand(rules.figure.output, figure=STUDY_FIGURES),
        expand(rules.synthetic_figure.output, synthetic_figure=SYNTHETIC_FIGURES.names()),
