# r1: the DeepSeek-R1 training pipeline (arXiv 2501.12948) as a Snakemake DAG.
# Targets only. The stages are the stage table (r1/pipeline.py); rules/common.smk validates the config and
# holds the input functions; rules/stages.smk is the rule family of the single-job stages, rules/{distill,eval,
# report,export}.smk the rest; logic is in r1/.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


# The default target: every student distilled and evaluated, every model evaluated, the report assets.
rule all:
    default_target: True
    input:
        [model_manifest(m) for m in pipeline.student_models(config)],
        "results/eval/manifest.json",
        "results/report/manifest.json",


include: "rules/stages.smk"
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
    all,
    distill_all,
    data_all,
    zero_all,
    zero_eval,
    r1_eval,
    r1_all,
    sft_all,
    eval_all,
    eval_table,
    report_assets,
    export_all,


# Milestones of the paper's pipeline (`snakemake <target>`); `all` (or distill_all) is everything;
# sft_all: every model of the main chain that runs (up to sft_stabilize, or rl_final when enabled).
rule distill_all:
    input:
        rules.all.input,


rule data_all:
    input:
        "results/data/manifest.json",
        model_manifest("base"),


rule zero_all:
    input:
        model_manifest("rl_zero"),


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
        model_manifest("rl_reasoning"),


rule sft_all:
    input:
        [model_manifest(m) for m in RUNNING_MODELS if m in pipeline.model_stages()],


rule eval_all:
    input:
        "results/eval/manifest.json",


# Serving formats (HF + model card, GGUF) of the final R1 model and the students; not part of `all`.
rule export_all:
    input:
        expand("results/export/{model}/manifest.json", model=EXPORT_MODELS),
