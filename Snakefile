# r1: the DeepSeek-R1 training pipeline (arXiv 2501.12948) as a Snakemake DAG.
# Targets only; logic lives in r1/, rules in rules/*.smk, validation and input functions in rules/common.smk.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/rl.smk"
include: "rules/cold_start.smk"
include: "rules/sft.smk"
include: "rules/distill.smk"
include: "rules/eval.smk"
include: "rules/report.smk"
include: "rules/export.smk"


wildcard_constraints:
    model="|".join(MODEL_DIRS),
    benchmark="|".join(BENCHMARKS),
    student="|".join(STUDENTS),
    shard=r"\d+",


localrules:
    eval_table,
    report_assets,
    distill_all,
    data_all,
    zero_all,
    zero_eval,
    r1_eval,
    r1_all,
    sft_all,
    eval_all,
    export_all,


rule distill_all:
    input:
        expand("results/distill/students/{student}/manifest.json", student=STUDENTS),
        "results/eval/manifest.json",
        rules.report_assets.output,


rule data_all:
    input:
        "results/data/manifest.json",
        "results/base_model/manifest.json",


rule zero_all:
    input:
        "results/rl_zero/manifest.json",


rule zero_eval:
    input:
        "results/rl_zero/manifest.json",
        expand(
            "results/eval/{model}/{benchmark}/summary.json",
            model=["base", "rl_zero"],
            benchmark=BENCHMARKS,
        ),


rule r1_eval:
    input:
        "results/rl_reasoning/manifest.json",
        expand(
            "results/eval/{model}/{benchmark}/summary.json",
            model=["base", "cold_start_sft", "rl_reasoning"],
            benchmark=BENCHMARKS,
        ),


rule r1_all:
    input:
        "results/rl_reasoning/manifest.json",


rule sft_all:
    input:
        "results/sft_stabilize/manifest.json",
        ["results/rl_final/manifest.json"] if RL_FINAL else [],


rule eval_all:
    input:
        "results/eval/manifest.json",


rule export_all:
    input:
        expand("results/export/{model}/manifest.json", model=EXPORT_MODELS),
