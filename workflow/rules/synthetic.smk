# Synthetic experiments of the theory: CPU only, no training, independent of the runs.
from osrstudy.synthetic import SYNTHETIC


rule synthetic:
    output:
        csv=f"{OUT}/tables/{{experiment}}.csv",
        md=f"{OUT}/tables/{{experiment}}.md",
        tex=f"{OUT}/tables/{{experiment}}.tex",
    log:
        f"{OUT}/logs/synthetic/{{experiment}}.log",
    wildcard_constraints:
        experiment="|".join(SYNTHETIC.names()),
    conda:
        "../envs/osrstudy.yaml"
    shell:
        "python -m osrstudy.synthetic {wildcards.experiment} --out {output.csv} {output.md} {output.tex} > {log} 2>&1"
