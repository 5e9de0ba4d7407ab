rule distill_generate:
    input:
        teacher=model_dir(TEACHER),
        teacher_manifest=model_manifest(TEACHER),
        code=code("sample"),
        train="results/data/train.parquet",
        data_manifest="results/data/manifest.json",
    output:
        samples="results/distill/teacher/shard_{shard}/samples.parquet",
        manifest="results/distill/teacher/shard_{shard}/manifest.json",
    log:
        "logs/distill/teacher_shard_{shard}.log",
    benchmark:
        "benchmarks/distill/teacher_shard_{shard}.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("distill_generate")
    resources:
        **stage_resources("distill_generate"),
    params:
        target="r1.stages.distill:distill_generate",
        cfg=distill_generate_cfg(),
        generation=generation_cfg(),
        grading=grading_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule distill_dataset:
    input:
        code=code("sample"),
        shards=expand(
            "results/distill/teacher/shard_{shard}/samples.parquet", shard=SHARDS
        ),
        shard_manifests=expand(
            "results/distill/teacher/shard_{shard}/manifest.json", shard=SHARDS
        ),
    output:
        dataset="results/distill/dataset.parquet",
        stats="results/distill/stats.json",
        manifest="results/distill/manifest.json",
    log:
        "logs/distill/distill_dataset.log",
    benchmark:
        "benchmarks/distill/distill_dataset.tsv"
    priority: 10
    threads: stage_threads("data")
    resources:
        **stage_resources("data"),
    params:
        target="r1.stages.distill:distill_dataset",
        cfg=distill_dataset_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule distill_student:
    input:
        teacher=model_dir(TEACHER),
        teacher_manifest=model_manifest(TEACHER),
        code=code("distill_student"),
        dataset="results/distill/dataset.parquet",
        dataset_manifest="results/distill/manifest.json",
    output:
        model=directory("results/distill/students/{student}/model"),
        metrics="results/distill/students/{student}/metrics.jsonl",
        manifest="results/distill/students/{student}/manifest.json",
    log:
        "logs/distill/student_{student}.log",
    benchmark:
        "benchmarks/distill/student_{student}.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("distill_student")
    resources:
        **stage_resources("distill_student"),
    params:
        deepspeed=stage_deepspeed("distill_student"),
        target="r1.stages.distill:distill_student",
        cfg=distill_train_cfg(),
        student=lambda wc: student_cfg(wc.student),
        seed=SEED,
    script:
        "../scripts/run_stage.py"
