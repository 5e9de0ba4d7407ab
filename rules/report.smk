# Report assets for `snakemake --report`: curves of every training stage that runs, data and yield tables,
# provenance. The lists come from the stage table (r1/pipeline.py).

RL_STAGES = [s for s in pipeline.active_stages(config) if s.kind == "rl"]
SFT_STAGES = [s for s in pipeline.active_stages(config) if s.kind == "sft"]
YIELD_STAGES = [
    s for s in pipeline.active_stages(config) if s.kind in ("sample", "judged")
] + [STAGE["distill_dataset"]]
REPORTED_MANIFESTS = sorted(
    {
        f"{s.folder}/manifest.json"
        for s in pipeline.active_stages(config)
        if s.per is None and s.kind != "report"
    }
    | {model_manifest(m) for m in RUNNING_MODELS}
)


rule report_assets:
    input:
        code=code("report_assets"),
        data_stats="results/data/stats.json",
        rl_metrics=[f"{s.folder}/metrics.jsonl" for s in RL_STAGES],
        sft_metrics=[f"{s.folder}/metrics.jsonl" for s in SFT_STAGES],
        yield_stats=[f"{s.folder}/stats.json" for s in YIELD_STAGES],
        eval_table="results/eval/table.csv",
        manifests=REPORTED_MANIFESTS,
    output:
        rl_curves=[
            report(
                f"results/report/rl_curves/{s.rule}.png",
                caption="../report/rl_curves.rst",
                category="Training curves",
                subcategory="RL",
                labels={"stage": s.rule, "figure": "reward, KL, completion length"},
            )
            for s in RL_STAGES
        ],
        sft_curves=report(
            "results/report/sft_curves.png",
            caption="../report/sft_curves.rst",
            category="Training curves",
        ),
        data_stats=report(
            "results/report/data_stats.html",
            caption="../report/data_stats.rst",
            category="Data",
        ),
        generation_yield=report(
            "results/report/generation_yield.html",
            caption="../report/generation_yield.rst",
            category="Data",
        ),
        provenance=report(
            "results/report/provenance.html",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
        manifest="results/report/manifest.json",
    log:
        log_file("report_assets"),
    benchmark:
        bench_file("report_assets")
    params:
        target=STAGE["report_assets"].entry,
    script:
        "../scripts/run_stage.py"
