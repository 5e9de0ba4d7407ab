rule rejection_sampling:
    input:
        unpack(lambda wc: model_input("rl_reasoning")),
        code=code("sample"),
        benchmarks=benchmark_files(),
        train="results/data/train.parquet",
        data_manifest="results/data/manifest.json",
        files=config["rejection_sampling"].get("non_reasoning_files", []),
    output:
        samples="results/rejection_sampling/samples.parquet",
        dataset="results/rejection_sampling/dataset.parquet",
        stats="results/rejection_sampling/stats.json",
        manifest="results/rejection_sampling/manifest.json",
    log:
        "logs/rejection_sampling/rejection_sampling.log",
    benchmark:
        "benchmarks/rejection_sampling/rejection_sampling.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("rejection_sampling")
    resources:
        **stage_resources("rejection_sampling"),
    params:
        target="r1.stages.sample:rejection_sampling",
        cfg=config["rejection_sampling"],
        generation=generation_cfg(),
        grading=grading_cfg(),
        decontam=decontam_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


# The paper's 800k SFT restarts from the BASE model, not from the RL checkpoint.
rule sft:
    input:
        unpack(lambda wc: model_input("base")),
        code=code("sft"),
        benchmarks=benchmark_files(),
        dataset="results/rejection_sampling/dataset.parquet",
        dataset_manifest="results/rejection_sampling/manifest.json",
    output:
        model=directory("results/sft/model"),
        metrics="results/sft/metrics.jsonl",
        manifest="results/sft/manifest.json",
    log:
        "logs/sft/sft.log",
    benchmark:
        "benchmarks/sft/sft.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("sft")
    resources:
        **stage_resources("sft"),
    params:
        deepspeed=stage_deepspeed("sft"),
        target="r1.stages.sft:sft",
        cfg=config["sft"],
        decontam=decontam_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule sft_stabilize:
    input:
        unpack(lambda wc: model_input("sft")),
        code=code("sft"),
        benchmarks=benchmark_files(),
        files=config["sft_stabilize"].get("files", []),
    output:
        model=directory("results/sft_stabilize/model"),
        metrics="results/sft_stabilize/metrics.jsonl",
        manifest="results/sft_stabilize/manifest.json",
    log:
        "logs/sft_stabilize/sft_stabilize.log",
    benchmark:
        "benchmarks/sft_stabilize/sft_stabilize.tsv"
    priority: 10
    retries: RETRIES
    threads: stage_threads("sft_stabilize")
    resources:
        **stage_resources("sft_stabilize"),
    params:
        deepspeed=stage_deepspeed("sft_stabilize"),
        target="r1.stages.sft:sft",
        cfg=config["sft_stabilize"],
        decontam=decontam_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"
