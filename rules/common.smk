# Config validation, the stage table, input functions, code dependencies and resources. No rules here.

import os
import sys
from pathlib import Path

R1_ROOT = Path(workflow.basedir)
sys.path.insert(0, str(R1_ROOT))
# Rule scripts import r1 from this checkout (also inside Slurm jobs, which re-read this file).
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(R1_ROOT)]
    + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)

from r1 import pipeline  # noqa: E402
from r1.config import validate_config  # noqa: E402


def _sort_keys(obj):
    """Every mapping's keys in sorted order. Snakemake compares params by repr(), so without this the key
    order of a YAML mapping (e.g. one data source's options) would rerun everything downstream.
    """
    if isinstance(obj, dict):
        return {k: _sort_keys(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, list):
        return [_sort_keys(v) for v in obj]
    return obj


pipeline.check_table()  # the stage table is well formed (r1/pipeline.py)
# Every key checked (types, unknown keys, trl: keys, rewards, paths, cross-field rules), defaults filled in,
# relative paths resolved (working directory, then this checkout): see r1/config.py.
_validated = _sort_keys(validate_config(config, "config"))
config.clear()
config.update(_validated)

STAGE = pipeline.by_rule()
SEED = config["seed"]
RETRIES = config["retries"]
STUDENTS = [s["name"] for s in config["distill"]["students"]]
BENCHMARKS = [b["name"] for b in config["benchmarks"]]
SHARDS = list(range(config["distill"]["num_shards"]))
TEACHER = config["distill"]["teacher"]
# Where each model of the run lives (eval names are these keys): every model stage, and the students.
MODEL_DIRS = {
    **{name: s.model_dir for name, s in pipeline.model_stages().items()},
    **pipeline.student_models(config),
}
RUNNING_MODELS = list(pipeline.running_models(config))
EVAL_MODELS = pipeline.eval_models(config)
TASK_BENCHMARKS = [b["name"] for b in config["task_benchmarks"]]
TASK_EVAL_MODELS = (
    pipeline.eval_models({**config, "eval": {"models": config["eval"]["task_models"]}})
    if TASK_BENCHMARKS
    else []
)
SFT_DATA = pipeline.runs(STAGE["sft_data_generate"], config)


def model_manifest(name):
    return str(Path(MODEL_DIRS[name]).parent / "manifest.json")


def model_input(name):
    """A model as a rule input: its directory plus its manifest (content-hashed by Snakemake); {} for None."""
    return (
        {"model": MODEL_DIRS[name], "model_manifest": model_manifest(name)}
        if name
        else {}
    )


def dataset_input(stage):
    """The dataset a training stage reads (from its row's `dataset` stage) and that stage's manifest."""
    if not stage.dataset:
        return {}
    folder = STAGE[stage.dataset].folder
    return {
        "dataset": f"{folder}/dataset.parquet",
        "dataset_manifest": f"{folder}/manifest.json",
    }


def prompts_input():
    return {
        "train": "results/data/train.parquet",
        "data_manifest": "results/data/manifest.json",
    }


def code(rule):
    """The r1 files the rule runs, from the import closure of its target (r1/codedeps.py): a rule reruns
    exactly when code it may execute changes."""
    here = pipeline.ROOT if Path.cwd().resolve() == pipeline.ROOT else None
    return pipeline.code(STAGE[rule], relative_to=here)


def log_file(rule):
    return f"logs/{STAGE[rule].folder.removeprefix('results/')}/{rule}.log"


def bench_file(rule):
    return f"benchmarks/{STAGE[rule].folder.removeprefix('results/')}/{rule}.tsv"


# ---- config slices: each rule sees only what it reads ----
def generation_cfg():
    return config["generation"]


def grading_cfg():
    return config["grading"]


def benchmark_sources():
    """Benchmarks as decontamination sources: the whole file counts, so `limit` is not part of the slice."""
    return [{k: v for k, v in b.items() if k != "limit"} for b in config["benchmarks"]]


def decontam_cfg():
    return {"benchmarks": benchmark_sources(), **config["data"]["decontamination"]}


def benchmark_cfg(name):
    return next(b for b in config["benchmarks"] if b["name"] == name)


def student_cfg(name):
    return next(s for s in config["distill"]["students"] if s["name"] == name)


def student_base_input(name):
    """The base model a `from_base` student starts from (its directory and manifest), else nothing."""
    if student_cfg(name).get("from_base") is None:
        return []
    return [MODEL_DIRS["base"], model_manifest("base")]


def student_heldout_params():
    """The students' held-out evaluation (distill.heldout) and the grading it uses; {} without one, so a run
    without it keeps its params (and its students)."""
    heldout = heldout_params(STAGE["distill_student"])
    return {"heldout": heldout, "grading": grading_cfg()} if heldout else {}


DISTILL_TRAIN_KEYS = ("method", "trl", "kd", "gkd")
DISTILL_DATASET_KEYS = ("keep", "min_examples", "fill", "filters", "num_shards")


def distill_train_cfg():
    return {k: config["distill"][k] for k in DISTILL_TRAIN_KEYS}


def distill_dataset_cfg():
    return {k: config["distill"][k] for k in DISTILL_DATASET_KEYS}


def distill_generate_cfg():
    """Teacher generation: not the dataset's filter keys, so editing those does not regenerate."""
    skip = {
        "students",
        "teacher",
        "heldout",
        *DISTILL_TRAIN_KEYS,
        *DISTILL_DATASET_KEYS,
    } - {"num_shards"}
    return {k: v for k, v in config["distill"].items() if k not in skip}


EVAL_SHAPE_KEYS = (
    "models",
    "task_models",
    "refusal_classifier",
)  # not part of a math eval's protocol


def eval_cfg(model):
    """The eval protocol; `models` (which checkpoints to evaluate) only shapes the DAG and the table.
    With `eval.prompt_style: trained` a model is evaluated with the prompt style it was trained on.
    """
    cfg = {k: v for k, v in config["eval"].items() if k not in EVAL_SHAPE_KEYS}
    if cfg["prompt_style"] == "trained":
        cfg["prompt_style"] = pipeline.trained_prompt_style(model, config)
    return cfg


def heldout_params(stage):
    """A training stage's held-out evaluation (r1/heldout.py): its block plus the benchmarks it names."""
    block = config[stage.section].get("heldout") or {}
    if not block.get("benchmarks"):
        return None
    return {"cfg": block, "benchmarks": [benchmark_cfg(n) for n in block["benchmarks"]]}


def heldout_files(stage):
    block = config[stage.section].get("heldout") or {}
    return [benchmark_cfg(n)["path"] for n in block.get("benchmarks", [])]


def data_source_files(section="data", key="sources"):
    """The files of a section's `kind: file` sources (data.sources, cold_start.seed_sources)."""
    return [s["path"] for s in config[section].get(key, []) if s["kind"] == "file"]


def benchmark_files():
    return [b["path"] for b in config["benchmarks"]]


def eval_task_cfg():
    """The task evals' protocol (always the chat prompt style: the tasks carry their own instructions)."""
    keep = ("k", "pass_ks", "temperature", "top_p", "max_new_tokens", "prefill_think")
    return {k: config["eval"][k] for k in (*keep, "refusal_classifier")}


# ---- beyond math: task sets, the sandbox and the judge ----
def task_set_files():
    return sorted({s["path"] for specs in config["tasks"].values() for s in specs})


def task_benchmark_files():
    return [b["path"] for b in config["task_benchmarks"]]


def task_benchmark_sources():
    """Task benchmarks as decontamination sources: the whole file counts (no `limit`)."""
    return [
        {k: v for k, v in b.items() if k != "limit"} for b in config["task_benchmarks"]
    ]


def tasks_input(**sets):
    """Task prompt sets as inputs ({input name: set}), with the manifest of rule data_tasks."""
    folder = STAGE["data_tasks"].folder
    if not sets:
        return {}
    return {
        **{name: f"{folder}/{s}.parquet" for name, s in sets.items()},
        "tasks_manifest": f"{folder}/manifest.json",
    }


def sft_data_input(name):
    """One generated SFT set of rule sft_data_generate (non_reasoning, safety) and its manifest."""
    folder = STAGE["sft_data_generate"].folder
    return {
        name: f"{folder}/{name}.parquet",
        "sft_data_manifest": f"{folder}/manifest.json",
    }


def judge_cfg():
    """The judge, its `model` a directory: a model of the run, or the HF directory the config names. A local
    judge decodes with the config's generation dtype, device and batch size unless `judge.generation` says.
    """
    judge = dict(config["judge"])
    if judge["backend"] == "local":
        judge["model"] = MODEL_DIRS.get(judge["model"], judge["model"])
        gen = {k: config["generation"][k] for k in ("dtype", "device", "batch_size")}
        judge["generation"] = {**gen, **judge["generation"]}
    return judge


def judge_input():
    judge = config["judge"]
    if judge["backend"] != "local" or judge["model"] not in MODEL_DIRS:
        return {}
    return {
        "judge_model": MODEL_DIRS[judge["model"]],
        "judge_manifest": model_manifest(judge["model"]),
    }


def uses_judge(stage):
    names = {r["name"] for r in config[stage.section].get("rewards", [])}
    return bool(names & {"helpfulness", "harmlessness"})


def task_prompt_inputs(stage):
    """The task sets an RL or rejection-sampling stage mixes in (`code_prompts`, `open_prompts`)."""
    cfg = config[stage.section]
    sets = {
        name: s
        for key, name, s in (
            ("code_prompts", "code_tasks", "code"),
            ("open_prompts", "open_tasks", "open"),
        )
        if cfg.get(key)
    }
    return tasks_input(**sets)


def eval_tasks_need_judge():
    kinds = {b["kind"] for b in config["task_benchmarks"]}
    return "judged" in kinds or config["eval"]["refusal_classifier"] == "judge"


def section_files(section):
    """The user SFT files a section names (files, non_reasoning_files)."""
    cfg = config[section]
    return cfg.get("files", []) + cfg.get("non_reasoning_files", [])


# ---- the single-job stages (rules/stages.smk): what each kind reads, writes and is given ----
def stage_input(stage):
    """The inputs of a single-job stage: its parent model, what it reads, and its code (r1/codedeps.py)."""
    common = {"code": code(stage.rule)}
    if stage.kind == "base":
        return common
    if stage.kind == "data":
        return {
            **common,
            "sources": data_source_files(),
            "benchmarks": benchmark_files(),
        }
    if stage.kind == "tasks":
        return {
            **common,
            "sources": task_set_files(),
            "benchmarks": benchmark_files(),
            "task_benchmarks": task_benchmark_files(),
        }
    model = model_input(pipeline.parent_model(stage, config))
    if stage.kind == "judged":
        return {
            **model,
            **judge_input(),
            **tasks_input(open_tasks="open", safety_tasks="safety"),
            **common,
        }
    tasks = task_prompt_inputs(stage)
    if stage.kind == "rl":
        judge = judge_input() if uses_judge(stage) else {}
        return {
            **model,
            **prompts_input(),
            **tasks,
            **judge,
            **common,
            "heldout": heldout_files(stage),
        }
    files = {"benchmarks": benchmark_files(), "files": section_files(stage.section)}
    if stage.kind == "sft":
        return {
            **model,
            **dataset_input(stage),
            **sft_extra_input(stage),
            **common,
            "heldout": heldout_files(stage),
            **files,
        }
    generated = (  # sample: the generated non-reasoning set joins rejection sampling's SFT data
        sft_data_input("non_reasoning")
        if SFT_DATA and stage.section == "rejection_sampling"
        else {}
    )
    seeds = {"seed_files": data_source_files(stage.section, "seed_sources")}
    return {
        **model,
        **prompts_input(),
        **tasks,
        **generated,
        **common,
        **files,
        **seeds,
    }


def sft_extra_input(stage):
    """An SFT stage's generated safety set (`safety_weight` set) and the dataset it replays from."""
    cfg = config[stage.section]
    out = {}
    if cfg.get("safety_weight") is not None and SFT_DATA:
        out.update(sft_data_input("safety"))
    if cfg["replay_fraction"]:
        folder = STAGE[cfg["replay_from"]].folder
        out.update(
            replay=f"{folder}/dataset.parquet",
            replay_manifest=f"{folder}/manifest.json",
        )
    return out


def stage_output(stage):
    """The outputs of a single-job stage, its manifest last (written after everything else)."""
    f = stage.folder
    outputs = {
        "base": {"model": directory(stage.model_dir), "info": f"{f}/info.json"},
        "data": {
            name: f"{f}/{name}.parquet"
            for name in ("train", "eval", "quarantine", "contamination")
        },
        "rl": {"model": directory(stage.model_dir), "metrics": f"{f}/metrics.jsonl"},
        "sample": {name: f"{f}/{name}.parquet" for name in ("samples", "dataset")},
        "tasks": {
            name: f"{f}/{name}.parquet"
            for name in ("code", "open", "safety", "contamination")
        },
        "judged": {
            name: f"{f}/{name}.parquet"
            for name in ("samples", "non_reasoning", "safety")
        },
    }
    outputs["sft"] = outputs["rl"]
    stats = (
        {"stats": f"{f}/stats.json"}
        if stage.kind in ("data", "tasks", "judged", "sample")
        else {}
    )
    return {**outputs[stage.kind], **stats, "manifest": f"{f}/manifest.json"}


def stage_params(stage):
    """What a single-job stage is given: its config section and the shared slices it reads."""
    extra = {
        "base": {},
        "data": {"benchmarks": benchmark_sources()},
        "tasks": {
            "decontam": decontam_cfg(),
            "task_benchmarks": task_benchmark_sources(),
        },
        "judged": {"generation": generation_cfg(), "judge": judge_cfg()},
        "rl": {
            "deepspeed": stage_deepspeed(stage.rule),
            "heldout": heldout_params(stage),
            "grading": grading_cfg(),
            "sandbox": (
                config["sandbox"] if config[stage.section].get("code_prompts") else None
            ),
            "judge": judge_cfg() if uses_judge(stage) else None,
        },
        "sft": {
            "deepspeed": stage_deepspeed(stage.rule),
            "heldout": heldout_params(stage),
            "grading": grading_cfg(),
            "decontam": decontam_cfg(),
        },
        "sample": {
            "generation": generation_cfg(),
            "grading": grading_cfg(),
            "decontam": decontam_cfg(),
            "sandbox": (
                config["sandbox"] if config[stage.section].get("code_prompts") else None
            ),
        },
    }[stage.kind]
    return {"target": stage.entry, "cfg": config[stage.section], **extra, "seed": SEED}


# ---- resources: config `resources.<group>` mapped to the Slurm plugin's names (r1/cluster.py) ----
def stage_resources(rule):
    from r1.cluster import snakemake_resources

    return snakemake_resources(config["resources"], STAGE[rule].resource_group)


def stage_deepspeed(rule):
    """The DeepSpeed config a training job uses when granted several GPUs (accelerate launch, see r1/launch.py)."""
    from r1.cluster import placement

    return placement(config["resources"], STAGE[rule].resource_group).deepspeed


def stage_threads(rule):
    from r1.cluster import threads_for

    return threads_for(config["resources"], STAGE[rule].resource_group)
