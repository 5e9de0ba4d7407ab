# Serving-ready exports of the run's final models (r1/export.py): an HF directory with a model card, and GGUF.

# The R1 model the run ends with, and every distilled student.
EXPORT_MODELS = ["rl_final" if RL_FINAL else "sft_stabilize"] + [
    f"distill_{s}" for s in STUDENTS
]


rule export_model:
    input:
        unpack(lambda wc: model_input(wc.model)),
        code=code("export"),
        eval_table="results/eval/table.csv",
        eval_manifest="results/eval/manifest.json",
    output:
        hf=directory("results/export/{model}/hf"),
        gguf="results/export/{model}/{model}.gguf",
        manifest="results/export/{model}/manifest.json",
    log:
        "logs/export/{model}.log",
    benchmark:
        "benchmarks/export/{model}.tsv"
    threads: stage_threads("data")
    resources:
        **stage_resources("data"),
    params:
        target="r1.export:export_job",
        gguf_type="f16",
        run_name=config["run_name"],
    script:
        "../scripts/run_stage.py"
