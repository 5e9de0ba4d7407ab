# Serving formats of the run's final models (target export_all): the R1 model the run ends with and every
# distilled student (pipeline.export_models), each as an HF directory with a model card and as GGUF.

EXPORT_MODELS = pipeline.export_models(config)


rule export_model:
    input:
        unpack(lambda wc: model_input(wc.model)),
        code=code("export_model"),
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
    threads: stage_threads("export_model")
    resources:
        **stage_resources("export_model"),
    params:
        target=STAGE["export_model"].entry,
        cfg=config["export"],
        run_name=config["run_name"],
    script:
        "../scripts/run_stage.py"
