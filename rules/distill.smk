# Distillation: the teacher (distill.teacher) generates in shards, its verified samples become the student
# dataset, and every student (distill.students) is trained on it.


rule distill_generate:
    input:
        **prompts_input(),
        teacher=MODEL_DIRS[TEACHER],
        teacher_manifest=model_manifest(TEACHER),
        code=code("distill_generate"),
        unreferenced_prompts=config["distill"]["unreferenced_prompts"],
        benchmarks=benchmark_files(),
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
        target=STAGE["distill_generate"].entry,
        cfg=distill_generate_cfg(),
        generation=generation_cfg(),
        grading=grading_cfg(),
        decontam=decontam_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule distill_dataset:
    input:
        code=code("distill_dataset"),
        shards=expand(rules.distill_generate.output.samples, shard=SHARDS),
        shard_manifests=expand(rules.distill_generate.output.manifest, shard=SHARDS),
    output:
        dataset="results/distill/dataset.parquet",
        stats="results/distill/stats.json",
        manifest="results/distill/manifest.json",
    log:
        log_file("distill_dataset"),
    benchmark:
        bench_file("distill_dataset")
    priority: 10
    threads: stage_threads("distill_dataset")
    resources:
        **stage_resources("distill_dataset"),
    params:
        target=STAGE["distill_dataset"].entry,
        cfg=distill_dataset_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule distill_student:
    input:
        **dataset_input(STAGE["distill_student"]),
        teacher=MODEL_DIRS[TEACHER],
        teacher_manifest=model_manifest(TEACHER),
        code=code("distill_student"),
        base=lambda wc: student_base_input(wc.student),
        heldout=heldout_files(STAGE["distill_student"]),
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
        **student_heldout_params(),
        deepspeed=stage_deepspeed("distill_student"),
        target=STAGE["distill_student"].entry,
        cfg=distill_train_cfg(),
        student=lambda wc: student_cfg(wc.student),
        seed=SEED,
    script:
        "../scripts/run_stage.py"
