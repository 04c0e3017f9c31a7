# One rule renders every table: those that read study blocks from the merged store, rendered when
# the study has such a block, and the theory's synthetic tables (reads=()), which need no study.
from osrstudy.tables import TABLES

STUDY_TABLES = [name for name in TABLES.names() if applies(TABLES[name], list(STUDY["blocks"]))]
TABLE_FORMATS = ["csv", "md", "tex"]


rule table:
    input:
        lambda wildcards: study_input(TABLES, wildcards.table),
    output:
        csv=f"{OUT}/tables/{{table}}.csv",
        md=f"{OUT}/tables/{{table}}.md",
        tex=f"{OUT}/tables/{{table}}.tex",
    log:
        f"{OUT}/logs/tables/{{table}}.log",
    wildcard_constraints:
        table="|".join(TABLES.names()),
    conda:
        "../envs/osrstudy.yaml"
    params:
        store=STUDY_ZARR,
    shell:
        "python -m osrstudy.tables {wildcards.table} --store {params.store}"
        " --out {output.csv} {output.md} {output.tex} > {log} 2>&1"


rule tables:
    input:
        expand(
            f"{OUT}/tables/{{table}}.{{ext}}",
            table=STUDY_TABLES,
            ext=TABLE_FORMATS,
        ),
