rule merge:
    input:
        runs=expand(RUN_STORE, run_id=sorted(RUNS)),
        study=STUDY_PATH,
    output:
        MERGED,
    log:
        f"{OUT}/logs/merge.log",
    conda:
        "../envs/osrstudy.yaml"
    params:
        runs_dir=lambda wildcards, input: os.path.dirname(input.runs[0]),
        store=STUDY_ZARR,
    shell:
        "python -m osrstudy.merge --study {input.study} --runs-dir {params.runs_dir}"
        " --out {params.store} --receipt {output} > {log} 2>&1"


# `snakemake verify`: full checksums of every run store and the merged store (osrstudy.verify).
rule verify:
    log:
        f"{OUT}/logs/verify.log",
    localrule: True
    conda:
        "../envs/osrstudy.yaml"
    params:
        runs_dir=f"{OUT}/runs",
        store=STUDY_ZARR,
        receipt=MERGED,
        run_ids=" ".join(sorted(RUNS)),
    shell:
        "python -m osrstudy.verify --runs-dir {params.runs_dir} --study-zarr {params.store}"
        " --receipt {params.receipt} {params.run_ids} 2>&1 | tee {log}"
