rule cold_start_generate:
    input:
        unpack(
            lambda wc: (
                model_input("rl_zero")
                if config["cold_start"]["source"] == "rl_zero"
                else {}
            )
        ),
        code=code("sample"),
        benchmarks=benchmark_files(),
        train="results/data/train.parquet",
        data_manifest="results/data/manifest.json",
        files=config["cold_start"].get("files", []),
    output:
        samples="results/cold_start/samples.parquet",
        dataset="results/cold_start/dataset.parquet",
        stats="results/cold_start/stats.json",
        manifest="results/cold_start/manifest.json",
    log:
        "logs/cold_start/cold_start_generate.log",
    benchmark:
        "benchmarks/cold_start/cold_start_generate.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("cold_start_generate")
    resources:
        **stage_resources("cold_start_generate"),
    params:
        target="r1.stages.sample:cold_start_generate",
        cfg=config["cold_start"],
        generation=generation_cfg(),
        grading=grading_cfg(),
        decontam=decontam_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule cold_start_sft:
    input:
        unpack(lambda wc: model_input("base")),
        code=code("sft"),
        benchmarks=benchmark_files(),
        dataset="results/cold_start/dataset.parquet",
        dataset_manifest="results/cold_start/manifest.json",
    output:
        model=directory("results/cold_start_sft/model"),
        metrics="results/cold_start_sft/metrics.jsonl",
        manifest="results/cold_start_sft/manifest.json",
    log:
        "logs/cold_start_sft/cold_start_sft.log",
    benchmark:
        "benchmarks/cold_start_sft/cold_start_sft.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("cold_start_sft")
    resources:
        **stage_resources("cold_start_sft"),
    params:
        deepspeed=stage_deepspeed("cold_start_sft"),
        target="r1.stages.sft:sft",
        cfg=config["cold_start_sft"],
        decontam=decontam_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"
