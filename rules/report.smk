RL_STAGES = ["rl_zero", "rl_reasoning"] + (["rl_final"] if RL_FINAL else [])


rule report_assets:
    input:
        code=code("report"),
        data_stats="results/data/stats.json",
        rl_metrics=expand("results/{stage}/metrics.jsonl", stage=RL_STAGES),
        sft_metrics=expand(
            "results/{stage}/metrics.jsonl",
            stage=["cold_start_sft", "sft", "sft_stabilize"],
        ),
        cold_start_stats="results/cold_start/stats.json",
        rejection_stats="results/rejection_sampling/stats.json",
        distill_stats="results/distill/stats.json",
        eval_table="results/eval/table.csv",
        manifests=lambda wc: sorted(
            set(
                [model_manifest(m) for m in MODEL_DIRS if m != "rl_final" or RL_FINAL]
                + [
                    "results/data/manifest.json",
                    "results/cold_start/manifest.json",
                    "results/rejection_sampling/manifest.json",
                    "results/distill/manifest.json",
                    "results/eval/manifest.json",
                ]
            )
        ),
    output:
        rl_curves=[
            report(
                f"results/report/rl_curves/{stage}.png",
                caption="../report/rl_curves.rst",
                category="Training curves",
                subcategory="RL",
                labels={"stage": stage, "figure": "reward, KL, completion length"},
            )
            for stage in RL_STAGES
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
        "logs/report/report_assets.log",
    benchmark:
        "benchmarks/report/report_assets.tsv"
    params:
        target="r1.stages.report:report",
    script:
        "../scripts/run_stage.py"
