rule base_model:
    input:
        code=code("base_model"),
    output:
        model=directory("results/base_model/model"),
        info="results/base_model/info.json",
        manifest="results/base_model/manifest.json",
    log:
        "logs/base_model/base_model.log",
    benchmark:
        "benchmarks/base_model/base_model.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("base_model")
    resources:
        **stage_resources("base_model"),
    params:
        target="r1.stages.base:base_model",
        cfg=config["base_model"],
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule data_prepare:
    input:
        code=code("data"),
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
        "logs/data/data_prepare.log",
    benchmark:
        "benchmarks/data/data_prepare.tsv"
    priority: 10
    threads: stage_threads("data")
    resources:
        **stage_resources("data"),
    params:
        target="r1.stages.data:data_prepare",
        cfg=config["data"],
        benchmarks=benchmark_sources(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"
