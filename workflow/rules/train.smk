# One job per run: osrstudy.launch hands it to submitit (local subprocess, debug, or SLURM).
# The launcher, its SLURM settings, the data root and the Jacobian chunk size (a memory bound)
# travel as resources, never params, so changing them does not make snakemake rerun finished
# runs. The Jacobian chunk is chosen per run from the free memory (0); fix it with e.g.
# --set-resources train:jacobian_chunk=64.
# pack > 1 trains that many runs in one cluster job (small runs: digits, MNIST-sized data).


rule train:
    output:
        directory(RUN_STORE),
    log:
        f"{OUT}/logs/train/{{run_id}}.log",
    wildcard_constraints:
        run_id="[A-Za-z0-9.-]+",
    conda:
        "../envs/osrstudy.yaml"
    threads: 1
    resources:
        launcher=LAUNCHER,
        runtime=60,
        data_root=DATA_ROOT,
        jacobian_chunk=0,  # 0: chosen per run from free memory and a two-sample probe
        cpus=1,
        slurm_partition="",
        slurm_account="",
        slurm_qos="",
        slurm_constraint="",
        gpus=0,
        mem_mb=4000,
        pack=1,
        pack_wait_s=30,
    params:
        spec=lambda wildcards: json.dumps(job_spec(RUNS[wildcards.run_id]), sort_keys=True),
        checkpoints=CHECKPOINTS,
        jobs=lambda wildcards: f"{OUT}/jobs/{wildcards.run_id}",
        record=lambda wildcards: f"{OUT}/.launch/{wildcards.run_id}.json",
    shell:
        "python -m osrstudy.launch --spec {params.spec:q} --output {output}"
        " --checkpoint-dir {params.checkpoints} --jobs-dir {params.jobs} --record {params.record}"
        " --launcher {resources.launcher} --threads {resources.cpus} --timeout-min {resources.runtime}"
        " --data-root={resources.data_root:q} --jacobian-chunk {resources.jacobian_chunk}"
        ' --slurm \'{{"partition": "{resources.slurm_partition}", "account": "{resources.slurm_account}",'
        ' "qos": "{resources.slurm_qos}", "constraint": "{resources.slurm_constraint}",'
        ' "gpus": {resources.gpus}, "mem_mb": {resources.mem_mb}}}\''
        " --pack {resources.pack} --pack-wait-s {resources.pack_wait_s} > {log} 2>&1"
