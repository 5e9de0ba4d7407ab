# Config validation, paths, input functions, r1 source tracking and resource mapping. No rules here.

import glob
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

from r1.config import validate_config  # noqa: E402

validate_config(config, "config")


def repo_path(path):
    """A relative path from config: as given if it exists here, else inside the r1 checkout (e.g. r1/assets/...)."""
    if path is None or os.path.isabs(path) or os.path.exists(path):
        return path
    candidate = R1_ROOT / path
    return str(candidate) if candidate.exists() else path


for _b in config["benchmarks"]:
    _b["path"] = repo_path(_b["path"])
for _s in config["data"]["sources"] + config["cold_start"].get("seed_sources", []):
    if "path" in _s:
        _s["path"] = repo_path(_s["path"])
for _key, _stage in [
    ("files", "cold_start"),
    ("non_reasoning_files", "rejection_sampling"),
    ("files", "sft_stabilize"),
]:
    if config[_stage].get(_key):
        config[_stage][_key] = [repo_path(p) for p in config[_stage][_key]]


def _sort_keys(obj):
    """In place: every mapping's keys in sorted order. Snakemake compares params by repr(), so without this
    reordering the keys of a YAML mapping (e.g. one data source) would rerun everything downstream.
    """
    if isinstance(obj, dict):
        items = sorted(obj.items(), key=lambda kv: str(kv[0]))
        obj.clear()
        obj.update((k, _sort_keys(v)) for k, v in items)
    elif isinstance(obj, list):
        obj[:] = [_sort_keys(v) for v in obj]
    return obj


_sort_keys(config)

SEED = config["seed"]
RETRIES = config.get("retries", 1)
STUDENTS = [s["name"] for s in config["distill"]["students"]]
BENCHMARKS = [b["name"] for b in config["benchmarks"]]
SHARDS = list(range(config["distill"]["num_shards"]))
RL_FINAL = bool(config["rl_final"].get("enabled", False))

# Where each checkpoint of the run lives; eval names are these keys.
MODEL_DIRS = {
    "base": "results/base_model/model",
    "rl_zero": "results/rl_zero/model",
    "cold_start_sft": "results/cold_start_sft/model",
    "rl_reasoning": "results/rl_reasoning/model",
    "sft": "results/sft/model",
    "sft_stabilize": "results/sft_stabilize/model",
    "rl_final": "results/rl_final/model",
}
for _s in STUDENTS:
    MODEL_DIRS[f"distill_{_s}"] = f"results/distill/students/{_s}/model"


def eval_models():
    names = []
    for m in config["eval"]["models"]:
        if m == "students":
            names += [f"distill_{s}" for s in STUDENTS]
        elif m == "rl_final" and not RL_FINAL:
            continue
        else:
            names.append(m)
    return names


EVAL_MODELS = eval_models()
TEACHER = config["distill"]["teacher"]


def model_dir(name):
    return MODEL_DIRS[name]


def model_manifest(name):
    return str(Path(MODEL_DIRS[name]).parent / "manifest.json")


def model_input(name):
    """A model as a rule input: its directory plus its manifest (content-hashed by Snakemake)."""
    return {"model": model_dir(name), "model_manifest": model_manifest(name)}


# ---- r1 source tracking: a rule reruns exactly when the code it executes changes ----
COMMON_CODE = [
    "r1/__init__.py",
    "r1/rulekit.py",
    "r1/manifest.py",
    "r1/atomic.py",
    "r1/stages.py",
]
GRADING_CODE = ["r1/grading/*.py", "r1/rewards.py", "r1/progress.py"]
GENERATION_CODE = [
    "r1/generation.py",
    "r1/prompts.py",
    "r1/sampling.py",
    "r1/filters.py",
    "r1/sft_data.py",
    "r1/progress.py",
]
DECONTAM_CODE = [
    "r1/data.py",
    "r1/decontam.py",
    "r1/eval/benchmarks.py",
    "r1/progress.py",
]
CODE = {
    "base_model": ["r1/models.py", "r1/prompts.py"],
    "data": ["r1/data.py", "r1/decontam.py", "r1/eval/benchmarks.py", "r1/progress.py"],
    "rl": [
        "r1/train.py",
        "r1/tracking.py",
        "r1/prompts.py",
        "r1/heldout.py",
        "r1/generation.py",
    ]
    + GRADING_CODE,
    "sample": GENERATION_CODE + GRADING_CODE + DECONTAM_CODE,
    "sft": [
        "r1/train.py",
        "r1/tracking.py",
        "r1/sft_data.py",
        "r1/heldout.py",
        "r1/generation.py",
    ]
    + DECONTAM_CODE
    + GRADING_CODE,
    "distill_student": ["r1/train.py", "r1/tracking.py", "r1/models.py"],
    # Not r1/eval/table.py (the table) nor r1/eval/cli.py: editing those reruns no evaluation.
    "eval": [
        "r1/eval/__init__.py",
        "r1/eval/benchmarks.py",
        "r1/eval/metrics.py",
        "r1/eval/runner.py",
        "r1/generation.py",
        "r1/prompts.py",
        "r1/sampling.py",
    ]
    + GRADING_CODE,
    "eval_table": ["r1/eval/table.py", "r1/assets/paper_results.csv"],
    "report": ["r1/report.py"],
    "export": [
        "r1/export.py",
        "r1/assets/model_card.md.jinja",
        "r1/eval/table.py",
        "r1/prompts.py",
    ],
}


def code(group):
    files = []
    for pattern in COMMON_CODE + CODE[group]:
        matches = sorted(glob.glob(str(R1_ROOT / pattern)))
        files += [
            os.path.relpath(m, R1_ROOT) if R1_ROOT == Path.cwd() else m for m in matches
        ]
    return sorted(set(files))


# ---- config slices: each rule sees only what it reads ----
def generation_cfg():
    return config["generation"]


def grading_cfg():
    return config["grading"]


def benchmark_sources():
    """Benchmarks as decontamination sources: the whole file counts, so `limit` is not part of the slice."""
    return [{k: v for k, v in b.items() if k != "limit"} for b in config["benchmarks"]]


def decontam_cfg():
    return {
        "benchmarks": benchmark_sources(),
        **config["data"].get("decontamination", {}),
    }


def benchmark_cfg(name):
    return next(b for b in config["benchmarks"] if b["name"] == name)


def student_cfg(name):
    return next(s for s in config["distill"]["students"] if s["name"] == name)


def distill_train_cfg():
    d = config["distill"]
    return {k: d[k] for k in ("method", "trl", "gkd") if k in d}


def distill_sample_cfg():
    d = config["distill"]
    return {
        k: v
        for k, v in d.items()
        if k not in ("students", "method", "trl", "gkd", "teacher")
    }


DISTILL_DATASET_KEYS = ("keep", "min_examples", "filters")


def distill_generate_cfg():
    """Teacher generation: not the dataset's filter keys, so editing those does not regenerate."""
    return {
        k: v for k, v in distill_sample_cfg().items() if k not in DISTILL_DATASET_KEYS
    }


def distill_dataset_cfg():
    keys = DISTILL_DATASET_KEYS + ("num_shards",)
    return {k: v for k, v in distill_sample_cfg().items() if k in keys}


def eval_cfg(model=None):
    """The eval protocol; `models` (which checkpoints to evaluate) only shapes the DAG and the table.
    With `eval.prompt_style: trained` a model is evaluated with the prompt style it was trained on.
    """
    cfg = {k: v for k, v in config["eval"].items() if k != "models"}
    if model is not None and cfg.get("prompt_style") == "trained":
        cfg["prompt_style"] = trained_prompt_style(model)
    return cfg


def trained_prompt_style(model):
    """The prompt style a checkpoint last trained on: its RL stage's `prompt_style`, else `chat`
    (the chat-tuned base, every SFT stage and the distilled students)."""
    return (
        config.get(model, {}).get("prompt_style", "chat")
        if model in RL_STAGES
        else "chat"
    )


RL_STAGES = ("rl_zero", "rl_reasoning", "rl_final")


def heldout_params(stage):
    """A training stage's held-out evaluation (r1/heldout.py): its block plus the benchmarks it names."""
    block = config[stage].get("heldout") or {}
    names = block.get("benchmarks") or []
    if not names:
        return None
    return {"cfg": block, "benchmarks": [benchmark_cfg(n) for n in names]}


def heldout_files(stage):
    block = config[stage].get("heldout") or {}
    return [benchmark_cfg(n)["path"] for n in block.get("benchmarks") or []]


def data_source_files():
    return [s["path"] for s in config["data"]["sources"] if s["kind"] == "file"]


def benchmark_files():
    return [b["path"] for b in config["benchmarks"]]


def user_files(*paths):
    out = []
    for p in paths:
        out += list(p or [])
    return out


# ---- resources: config `resources.<group>` mapped to the Slurm plugin's names ----
def _resource_group(group):
    res = config["resources"]
    return {**res["default"], **res.get(group, {})}


def stage_resources(group):
    try:
        from r1.cluster import snakemake_resources

        return snakemake_resources(config["resources"], group)
    except ImportError:
        g = _resource_group(group)
        out = {"mem_mb": g.get("mem_mb", 4000), "runtime": g.get("runtime", 60)}
        if g.get("gpus"):
            out["gpu"] = g["gpus"]
        return out


def stage_deepspeed(group):
    """The DeepSpeed config a training job uses when granted several GPUs (accelerate launch, see r1/cluster.py)."""
    from r1.cluster import placement

    return placement(config["resources"], group).deepspeed


def stage_threads(group):
    try:
        from r1.cluster import threads_for

        return threads_for(config["resources"], group)
    except ImportError:
        return _resource_group(group).get("cpus", 1)
