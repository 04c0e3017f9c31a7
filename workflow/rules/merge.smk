rule merge:
    input:
        runs=expand(RUN_STORE, run_id=sorted(RUNS)),
        study=STUDY_PATH,
    output:
        directory(STUDY_ZARR),
    params:
        runs_dir=f"{OUT}/runs",
    log:
        f"{OUT}/logs/merge.log",
    shell:
        "{PYTHON} -m osrstudy.merge --study {input.study} --runs-dir {params.runs_dir}"
        " --out {output} > {log} 2>&1"
