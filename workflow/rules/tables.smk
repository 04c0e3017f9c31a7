# Tables read only the merged store (see merged_store in common.smk).
from osrstudy.synthetic import SYNTHETIC
from osrstudy.tables import TABLES


rule table:
    input:
        merged_store,
    output:
        csv=f"{OUT}/tables/{{table}}.csv",
        md=f"{OUT}/tables/{{table}}.md",
    params:
        store=STUDY_ZARR,
    log:
        f"{OUT}/logs/tables/{{table}}.log",
    wildcard_constraints:
        table="|".join(TABLES.names()),
    conda:
        "../envs/osrstudy.yaml"
    shell:
        "python -m osrstudy.tables {wildcards.table} --store {params.store}"
        " --out {output.csv} {output.md} > {log} 2>&1"


rule tables:
    input:
        expand(rules.table.output, table=TABLES.names()),
        expand(f"{OUT}/tables/{{experiment}}.{{ext}}", experiment=SYNTHETIC.names(), ext=["csv", "md"]),
