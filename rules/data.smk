# The base model and the prompt data: the two roots of the DAG.


rule base_model:
    input:
        code=code("base_model"),
    output:
        model=directory(STAGE["base_model"].model_dir),
        info="results/base_model/info.json",
        manifest="results/base_model/manifest.json",
    log:
        log_file("base_model"),
    benchmark:
        bench_file("base_model")
    priority: 10
    retries: RETRIES
    threads: stage_threads("base_model")
    resources:
        **stage_resources("base_model"),
    params:
        target=STAGE["base_model"].entry,
        cfg=config["base_model"],
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule data_prepare:
    input:
        code=code("data_prepare"),
        sources=data_source_files(),
        benchmarks=benchmark_files(),
    output:
        train="results/data/train.parquet",
        eval="results/data/eval.parquet",
        quarantine="results/data/quarantine.parquet",
        contamination="results/data/contamination.parquet",
        stats="results/data/stats.json",
        manifest="results/data/manifest.json",
    log:
        log_file("data_prepare"),
    benchmark:
        bench_file("data_prepare")
    priority: 10
    threads: stage_threads("data_prepare")
    resources:
        **stage_resources("data_prepare"),
    params:
        target=STAGE["data_prepare"].entry,
        cfg=config["data"],
        benchmarks=benchmark_sources(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"
