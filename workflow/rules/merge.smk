rule merge:
    input:
        runs=expand(RUN_STORE, run_id=sorted(RUNS)),
        study=STUDY_PATH,
    output:
        directory(STUDY_ZARR),
    params:
        runs_dir=lambda wildcards, input: os.path.dirname(input.runs[0]),
    log:
        f"{OUT}/logs/merge.log",
    conda:
        "../envs/osrstudy.yaml"
    shell:
        "python -m osrstudy.merge --study {input.study} --runs-dir {params.runs_dir}"
        " --out {output} > {log} 2>&1"
