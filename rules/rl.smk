rule rl_zero:
    input:
        unpack(lambda wc: model_input("base")),
        code=code("rl"),
        train="results/data/train.parquet",
        data_manifest="results/data/manifest.json",
    output:
        model=directory("results/rl_zero/model"),
        metrics="results/rl_zero/metrics.jsonl",
        manifest="results/rl_zero/manifest.json",
    log:
        "logs/rl_zero/rl_zero.log",
    benchmark:
        "benchmarks/rl_zero/rl_zero.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("rl_zero")
    resources:
        **stage_resources("rl_zero"),
    params:
        deepspeed=stage_deepspeed("rl_zero"),
        target="r1.stages.rl:rl",
        cfg=config["rl_zero"],
        grading=grading_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule rl_reasoning:
    input:
        unpack(lambda wc: model_input("cold_start_sft")),
        code=code("rl"),
        train="results/data/train.parquet",
        data_manifest="results/data/manifest.json",
    output:
        model=directory("results/rl_reasoning/model"),
        metrics="results/rl_reasoning/metrics.jsonl",
        manifest="results/rl_reasoning/manifest.json",
    log:
        "logs/rl_reasoning/rl_reasoning.log",
    benchmark:
        "benchmarks/rl_reasoning/rl_reasoning.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("rl_reasoning")
    resources:
        **stage_resources("rl_reasoning"),
    params:
        deepspeed=stage_deepspeed("rl_reasoning"),
        target="r1.stages.rl:rl",
        cfg=config["rl_reasoning"],
        grading=grading_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule rl_final:
    input:
        unpack(lambda wc: model_input("sft_stabilize")),
        code=code("rl"),
        train="results/data/train.parquet",
        data_manifest="results/data/manifest.json",
    output:
        model=directory("results/rl_final/model"),
        metrics="results/rl_final/metrics.jsonl",
        manifest="results/rl_final/manifest.json",
    log:
        "logs/rl_final/rl_final.log",
    benchmark:
        "benchmarks/rl_final/rl_final.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("rl_final")
    resources:
        **stage_resources("rl_final"),
    params:
        deepspeed=stage_deepspeed("rl_final"),
        target="r1.stages.rl:rl",
        cfg=config["rl_final"],
        grading=grading_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"
