# Tables read only the merged store (see merged_store in common.smk); each is rendered when the
# study has a block it reads. Synthetic tables of the theory need no study (synthetic.smk).
from osrstudy.synthetic import SYNTHETIC
from osrstudy.tables import TABLES, applies as table_applies

STUDY_TABLES = [name for name in TABLES.names() if table_applies(name, list(STUDY["blocks"]))]
TABLE_FORMATS = ["csv", "md", "tex"]


rule table:
    input:
        merged_store,
    output:
        csv=f"{OUT}/tables/{{table}}.csv",
        md=f"{OUT}/tables/{{table}}.md",
        tex=f"{OUT}/tables/{{table}}.tex",
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
        " --out {output.csv} {output.md} {output.tex} > {log} 2>&1"


rule tables:
    input:
        expand(f"{OUT}/tables/{{table}}.{{ext}}", table=STUDY_TABLES, ext=TABLE_FORMATS),
        expand(f"{OUT}/tables/{{experiment}}.{{ext}}", experiment=SYNTHETIC.names(), ext=TABLE_FORMATS),
