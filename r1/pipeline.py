"""The stage table: every job of the r1 DAG in one typed list, and everything derived from it.

Each row is one Snakemake rule: its kind, the config section it reads, the model it writes (and evaluates
under that name), the model it starts from, the dataset it trains on, its resource group and the code it runs.
The rules (rules/*.smk), the model directories, the resource groups, the evaluated models, the report's
curves and the config sections (r1.config) are derived from it, so adding an RL stage is one row here plus
its config block:

    rl_stage("rl_extra", parent="rl_reasoning"),   # and `rl_extra: {prompt_style: chat, ...}` in the config

Model directories are `results/<rule>/model`; datasets `results/<results>/dataset.parquet`.
"""

from __future__ import annotations

from dataclasses import dataclass

from r1.codedeps import ROOT, code_files, function_closure

KINDS = ("base", "data", "tasks", "judged", "rl", "sft", "sample", "distill", "eval", "report", "export")
STUDENTS = "students"  # in eval.models: every distilled student


@dataclass(frozen=True)
class Stage:
    rule: str  # the Snakemake rule; also its log name and (by default) its resource group and results folder
    kind: str  # one of KINDS
    section: str | None = None  # the config section it reads
    model: str | None = None  # the model it writes to results/<rule>/model, evaluated under this name
    parent: str | None = None  # the model it starts from
    dataset: str | None = None  # the rule whose dataset.parquet it trains on
    results: str | None = None  # results/<results>/ (default: the rule)
    group: str | None = None  # resources.<group> in the config (default: the rule)
    target: str | None = None  # the `module:function` it runs (default: r1.stages.<kind>:<rule>)
    assets: tuple[str, ...] = ()  # data files of the r1 package it reads: part of its code
    per: str | None = None  # the wildcard it runs once per (shard, student, model x benchmark); None: one job

    @property
    def folder(self) -> str:
        return f"results/{self.results or self.rule}"

    @property
    def resource_group(self) -> str:
        return self.group or self.rule

    @property
    def entry(self) -> str:
        return self.target or f"r1.stages.{self.kind}:{self.rule}"

    @property
    def model_dir(self) -> str:
        return f"{self.folder}/model"


def rl_stage(name: str, parent: str) -> Stage:
    """A GRPO stage from model `parent` on the prepared prompts; config section `name` (r1.config.RLStage)."""
    return Stage(
        name, "rl", section=name, model=name, parent=parent, dataset="data_prepare", target="r1.stages.rl:rl"
    )


def sft_stage(name: str, parent: str, dataset: str | None = None) -> Stage:
    """An SFT stage from model `parent` on `dataset` plus its section's `files` (r1.config.SFTStage)."""
    return Stage(
        name, "sft", section=name, model=name, parent=parent, dataset=dataset, target="r1.stages.sft:sft"
    )


STAGES: tuple[Stage, ...] = (
    Stage("base_model", "base", section="base_model", model="base"),
    Stage("data_prepare", "data", section="data", results="data", group="data"),
    # prompt sets beyond math (code with tests, open-ended, safety) and the SFT data generated from them: the
    # generator (sft_data.generator, default the base) answers, the judge keeps the good answers
    Stage(
        "data_tasks",
        "tasks",
        section="tasks",
        results="tasks",
        group="data",
        target="r1.stages.tasks:data_tasks",
    ),
    Stage(
        "sft_data_generate",
        "judged",
        section="sft_data",
        parent="base",
        results="sft_data",
        group="sft_data",
        target="r1.stages.tasks:sft_data_generate",
    ),
    rl_stage("rl_zero", parent="base"),
    # parent: cold_start.source = rl_zero; with source = teacher it samples cold_start.teacher_path instead
    Stage("cold_start_generate", "sample", section="cold_start", parent="rl_zero", results="cold_start"),
    sft_stage("cold_start_sft", parent="base", dataset="cold_start_generate"),
    rl_stage("rl_reasoning", parent="cold_start_sft"),
    Stage("rejection_sampling", "sample", section="rejection_sampling", parent="rl_reasoning"),
    sft_stage("sft", parent="base", dataset="rejection_sampling"),  # the paper restarts from the base model
    sft_stage("sft_stabilize", parent="sft"),
    rl_stage("rl_final", parent="sft_stabilize"),
    # the teacher is distill.teacher; the students are distill.students (models distill_<name>)
    Stage(
        "distill_generate",
        "distill",
        section="distill",
        dataset="data_prepare",
        results="distill",
        per="shard",
    ),
    Stage("distill_dataset", "distill", section="distill", results="distill", group="data"),
    Stage(
        "distill_student",
        "distill",
        section="distill",
        dataset="distill_dataset",
        results="distill",
        per="student",
    ),
    Stage("eval_generate", "eval", section="eval", results="eval", per="model x benchmark"),
    # eval.task_models x every task benchmark (code, multiple choice, safety, judged), one job per model
    Stage(
        "eval_tasks", "eval", section="eval", results="eval", per="model", target="r1.stages.tasks:eval_tasks"
    ),
    Stage("eval_table", "eval", results="eval", assets=("r1/assets/paper_results.csv",)),
    Stage("report_assets", "report", results="report", group="report", target="r1.stages.report:report"),
    # serving formats of export_models() (target export_all, not part of `all`); a CPU job like data_prepare
    Stage(
        "export_model",
        "export",
        section="export",
        results="export",
        group="data",
        assets=("r1/assets/model_card.md.jinja",),
        per="model",
    ),
)


class StageTableError(ValueError):
    pass


def by_rule(stages=STAGES) -> dict[str, Stage]:
    return {s.rule: s for s in stages}


def of_kind(kind: str, stages=STAGES) -> list[Stage]:
    return [s for s in stages if s.kind == kind]


def model_stages(stages=STAGES) -> dict[str, Stage]:
    """model name -> the stage that writes it (base, rl_zero, ...; students are added from the config)."""
    return {s.model: s for s in stages if s.model}


def trained_prompt_style(model: str, cfg: dict, stages=STAGES) -> str:
    """The prompt style a model last trained on (`eval.prompt_style: trained`): its RL stage's `prompt_style`
    (R1-Zero: the paper's raw template), else `chat` (the chat-tuned base, every SFT stage, the students)."""
    stage = model_stages(stages).get(model)
    return cfg[stage.section]["prompt_style"] if stage and stage.kind == "rl" else "chat"


def single_jobs(stages=STAGES) -> list[Stage]:
    """The rows of rules/stages.smk: one job each, outputs in its own folder (base, data, rl, sft, sample)."""
    return [s for s in stages if s.kind in ("base", "data", "tasks", "judged", "rl", "sft", "sample")]


def resource_groups(stages=STAGES) -> tuple[str, ...]:
    """Valid keys of the config's `resources:`: `default` and every stage's group."""
    return ("default", *dict.fromkeys(s.resource_group for s in stages))


def sections(stages=STAGES) -> dict[str, Stage]:
    """Config section -> the first stage that reads it."""
    out: dict[str, Stage] = {}
    for s in stages:
        if s.section:
            out.setdefault(s.section, s)
    return out


# ---- with a (validated) config -----------------------------------------------------------------------------
def runs(stage: Stage, cfg: dict) -> bool:
    """Whether a stage runs: every stage does unless its section says `enabled: false` (RL stages)."""
    return not stage.section or cfg[stage.section].get("enabled", True)


def active_stages(cfg: dict, stages=STAGES) -> list[Stage]:
    return [s for s in stages if runs(s, cfg)]


def parent_model(stage: Stage, cfg: dict) -> str | None:
    """The model a stage starts from: its row's parent, or what its config section chooses."""
    if stage.section == "cold_start" and cfg["cold_start"]["source"] != "rl_zero":
        return None  # samples cold_start.teacher_path
    if stage.rule in ("distill_generate", "distill_student"):
        return cfg["distill"]["teacher"]
    if stage.section == "sft_data":  # a model of the run, or (None) an HF directory in sft_data.generator
        generator = cfg["sft_data"]["generator"]
        return generator if generator in model_stages() else None
    return stage.parent


STUDENT_PREFIX = "distill_"  # a distilled student's model (and training stage) name: distill_<student>


def student_models(cfg: dict) -> dict[str, str]:
    """model name -> directory of every distilled student."""
    return {
        f"{STUDENT_PREFIX}{s['name']}": f"results/distill/students/{s['name']}/model"
        for s in cfg["distill"]["students"]
    }


def student_name(model: str, stages=STAGES) -> str | None:
    """The student of a model name distill_<student> (None for a stage-table rule or model)."""
    if model in by_rule(stages) or model in model_stages(stages) or not model.startswith(STUDENT_PREFIX):
        return None
    return model.removeprefix(STUDENT_PREFIX)


def teacher_models(cfg: dict, stages=STAGES) -> list[str]:
    """The models distill.teacher may name: every model of the stage table that runs (the base, the RL stages
    such as rl_zero, the SFT stages), not a student."""
    return [s.model for s in active_stages(cfg, stages) if s.model]


def running_models(cfg: dict, stages=STAGES) -> dict[str, str]:
    """model name -> directory of every model the config runs, in stage order, the students last."""
    out = {s.model: s.model_dir for s in active_stages(cfg, stages) if s.model}
    return {**out, **student_models(cfg)}


def final_model(cfg: dict, stages=STAGES) -> str:
    """The R1 model the run ends with: the last model stage that runs (rl_final when enabled, else
    sft_stabilize)."""
    return [s.model for s in active_stages(cfg, stages) if s.model][-1]


def export_models(cfg: dict, stages=STAGES) -> list[str]:
    """The models `export_all` packages for serving: the final R1 model and every distilled student."""
    return [final_model(cfg, stages), *student_models(cfg)]


def eval_models(cfg: dict, stages=STAGES) -> list[str]:
    """The models to evaluate: eval.models (default: all) with `students` expanded; models that do not run
    (a disabled stage) are left out."""
    runs_now = running_models(cfg, stages)
    wanted = cfg["eval"].get("models") or [*model_stages(stages), STUDENTS]
    names = []
    for m in wanted:
        names += list(student_models(cfg)) if m == STUDENTS else [m] if m in runs_now else []
    return list(dict.fromkeys(names))


def code(stage: Stage, relative_to=ROOT) -> list[str]:
    """The r1 files a stage's rule runs (r1.codedeps) plus its package data: the rule's `code` input."""
    files = set(code_files(stage.entry, relative_to)) | set(code_files("r1.rulekit:run_rule", relative_to))
    files |= {str(ROOT / a) if relative_to is None else a for a in stage.assets}
    return sorted(files)


def check_table(stages=STAGES) -> None:
    """The table is well formed: known kinds, unique rules, parents written by an earlier stage, datasets from
    an earlier sample stage, runnable targets. Raises StageTableError naming the row."""
    seen_models: set[str] = set()
    seen_rules: dict[str, Stage] = {}
    for s in stages:
        where = f"stage table (r1/pipeline.py): {s.rule}"
        if s.kind not in KINDS:
            raise StageTableError(f"{where}: unknown kind {s.kind!r}; kinds: {', '.join(KINDS)}")
        if s.rule in seen_rules:
            raise StageTableError(f"{where}: a second row for this rule")
        if s.parent and s.parent not in seen_models:
            raise StageTableError(f"{where}: parent {s.parent!r} is not a model written by an earlier stage")
        if s.dataset and s.dataset not in seen_rules:
            raise StageTableError(f"{where}: dataset {s.dataset!r} is not an earlier stage")
        if s.kind in ("rl", "sft") and not (s.model and s.section and s.parent):
            raise StageTableError(f"{where}: an {s.kind} stage needs a model, a config section and a parent")
        try:
            function_closure(s.entry)
        except ValueError as e:
            raise StageTableError(f"{where}: target {e}") from None
        if s.model:
            seen_models.add(s.model)
        seen_rules[s.rule] = s
