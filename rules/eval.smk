# Evaluation: every evaluated model (eval.models, default all) on every benchmark, then one table.


rule eval_generate:
    input:
        unpack(lambda wc: model_input(wc.model)),
        code=code("eval_generate"),
        benchmark=lambda wc: benchmark_cfg(wc.benchmark)["path"],
    output:
        samples="results/eval/{model}/{benchmark}/samples.parquet",
        summary="results/eval/{model}/{benchmark}/summary.json",
        manifest="results/eval/{model}/{benchmark}/manifest.json",
    log:
        "logs/eval/{model}/{benchmark}.log",
    benchmark:
        "benchmarks/eval/{model}/{benchmark}.tsv"
    retries: RETRIES
    threads: stage_threads("eval_generate")
    resources:
        **stage_resources("eval_generate"),
    params:
        target=STAGE["eval_generate"].entry,
        cfg=lambda wc: eval_cfg(wc.model),
        benchmark=lambda wc: benchmark_cfg(wc.benchmark),
        generation=generation_cfg(),
        grading=grading_cfg(),
        seed=SEED,
    script:
        "../scripts/run_stage.py"


# eval.task_models on every task benchmark (code in the sandbox, multiple choice, safety, judged): one job per
# model, which samples every task benchmark in one generation run.
rule eval_tasks:
    input:
        unpack(lambda wc: model_input(wc.model)),
        unpack(lambda wc: judge_input() if eval_tasks_need_judge() else {}),
        code=code("eval_tasks"),
        task_benchmarks=task_benchmark_files(),
    output:
        summaries=expand(
            "results/eval/{{model}}/{benchmark}/summary.json",
            benchmark=TASK_BENCHMARKS,
        ),
        samples=expand(
            "results/eval/{{model}}/{benchmark}/samples.parquet",
            benchmark=TASK_BENCHMARKS,
        ),
        manifest="results/eval/{model}/tasks/manifest.json",
    log:
        "logs/eval/{model}/tasks.log",
    benchmark:
        "benchmarks/eval/{model}/tasks.tsv"
    retries: RETRIES
    threads: stage_threads("eval_tasks")
    resources:
        **stage_resources("eval_tasks"),
    params:
        target=STAGE["eval_tasks"].entry,
        cfg=eval_task_cfg(),
        task_benchmarks=config["task_benchmarks"],
        generation=generation_cfg(),
        sandbox=config["sandbox"],
        judge=judge_cfg() if eval_tasks_need_judge() else None,
        seed=SEED,
    script:
        "../scripts/run_stage.py"


rule eval_table:
    input:
        code=code("eval_table"),
        summaries=expand(
            rules.eval_generate.output.summary, model=EVAL_MODELS, benchmark=BENCHMARKS
        ),
        summary_manifests=expand(
            rules.eval_generate.output.manifest,
            model=EVAL_MODELS,
            benchmark=BENCHMARKS,
        ),
        task_summaries=expand(
            "results/eval/{model}/{benchmark}/summary.json",
            model=TASK_EVAL_MODELS,
            benchmark=TASK_BENCHMARKS,
        ),
        task_manifests=expand(rules.eval_tasks.output.manifest, model=TASK_EVAL_MODELS),
    output:
        csv="results/eval/table.csv",
        md="results/eval/table.md",
        html=report(
            "results/eval/table.html",
            caption="../report/eval_table.rst",
            category="Evaluation",
        ),
        plot=report(
            "results/eval/pass1_by_stage.png",
            caption="../report/pass1_by_stage.rst",
            category="Evaluation",
        ),
        manifest="results/eval/manifest.json",
    log:
        log_file("eval_table"),
    benchmark:
        bench_file("eval_table")
    params:
        target=STAGE["eval_table"].entry,
        model_order=EVAL_MODELS,
    script:
        "../scripts/run_stage.py"
