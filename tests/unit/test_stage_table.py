"""The stage table (r1/pipeline.py) and the code dependencies computed from imports (r1/codedeps.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from r1 import cluster, codedeps, pipeline
from r1.config import config_model, load_config

REPO = Path(__file__).resolve().parents[2]


def rel(obj) -> str:
    return str(Path(inspect.getsourcefile(obj)).relative_to(REPO))


def test_the_table_is_well_formed_and_every_target_exists():
    pipeline.check_table()
    for stage in pipeline.STAGES:
        module, _, func = stage.entry.partition(":")
        assert codedeps.module_file(module) is not None, stage.rule
        assert f"def {func}(" in codedeps.module_file(module).read_text(), stage.rule


@pytest.mark.parametrize(
    "bad, message",
    [
        (pipeline.Stage("x", "magic"), "unknown kind 'magic'"),
        (
            pipeline.rl_stage("rl_x", parent="nobody"),
            "parent 'nobody' is not a model written by an earlier stage",
        ),
        (pipeline.Stage("rl_zero", "rl"), "a second row for this rule"),
        (
            pipeline.sft_stage("sft_x", parent="base", dataset="later"),
            "dataset 'later' is not an earlier stage",
        ),
        (pipeline.Stage("x", "eval", target="r1.stages.eval:nothing"), "defines no nothing"),
    ],
)
def test_a_bad_row_is_refused_naming_it(bad, message):
    with pytest.raises(pipeline.StageTableError, match=message):
        pipeline.check_table((*pipeline.STAGES, bad))


def test_lists_derived_from_the_table():
    cfg = load_config(REPO / "config.yaml", REPO / "tests/configs/tiny.yaml")
    rl = [s.rule for s in pipeline.of_kind("rl")]
    assert rl == ["rl_zero", "rl_reasoning", "rl_final"]
    assert [s.rule for s in pipeline.active_stages(cfg) if s.kind == "rl"] == ["rl_zero", "rl_reasoning"]
    assert pipeline.eval_models(cfg) == [
        "base",
        "rl_zero",
        "cold_start_sft",
        "rl_reasoning",
        "sft",
        "sft_stabilize",
        "distill_tiny_qwen",
    ]
    assert set(cluster.GROUPS) == {"default", *(s.resource_group for s in pipeline.STAGES)}
    model = config_model()
    for stage in pipeline.of_kind("rl") + pipeline.of_kind("sft"):
        assert stage.section in model.model_fields and model.model_fields[stage.section].is_required()


def test_a_new_rl_row_gets_a_config_section_a_resource_group_and_an_eval():
    stages = (*pipeline.STAGES, pipeline.rl_stage("rl_extra", parent="rl_reasoning"))
    pipeline.check_table(stages)
    assert "rl_extra" in config_model(stages).model_fields and "rl_extra" in pipeline.resource_groups(stages)
    cfg = load_config(REPO / "config.yaml", REPO / "tests/configs/tiny.yaml")
    cfg["rl_extra"] = cfg["rl_reasoning"]
    assert "rl_extra" in pipeline.eval_models(cfg, stages)
    assert pipeline.code(stages[-1]) == pipeline.code(pipeline.by_rule()["rl_zero"])


def test_rl_code_holds_the_cuda_decoder_and_the_rollout_override():
    """The measured hole: the GRPO rollouts on CUDA run r1's decoder, so editing it must rerun RL."""
    from r1.engine import StaticCacheDecoder, grpo_trainer_class
    from r1.ppo import ppo_trainer_class

    for stage in pipeline.of_kind("rl"):
        code = pipeline.code(stage)
        assert rel(StaticCacheDecoder) in code and rel(grpo_trainer_class) in code, stage.rule
        assert rel(ppo_trainer_class) in code, stage.rule  # algorithm: ppo runs r1/ppo.py


def test_code_is_the_import_closure_and_no_more():
    by = pipeline.by_rule()
    assert "r1/eval/table.py" not in pipeline.code(by["eval_generate"])  # the table reruns no evaluation
    assert "r1/train.py" not in pipeline.code(by["distill_generate"])  # student training: not the teacher
    assert "r1/sampling.py" not in pipeline.code(by["distill_student"])
    assert "r1/assets/paper_results.csv" in pipeline.code(by["eval_table"])
    for stage in pipeline.STAGES:
        code = pipeline.code(stage)
        assert {"r1/rulekit.py", "r1/launch.py", "r1/manifest.py"} <= set(code), stage.rule
        assert not {"r1/pipeline.py", "r1/config.py", "r1/codedeps.py"} & set(code), stage.rule


def test_function_closure_follows_relative_lazy_and_submodule_imports(tmp_path, monkeypatch):
    files = {
        "r1/__init__.py": "",
        "r1/a.py": "def run():\n    from . import b\n",
        "r1/b.py": "from .sub import c\n",
        "r1/sub/__init__.py": "",
        "r1/sub/c.py": "import json\n",
        "r1/d.py": "",
        "r1/e.py": "import r1.sub\n\n\ndef helper():\n    from r1 import a\n\n\ndef f():\n    helper()\n\n\n"
        "def g():\n    from r1 import d\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(codedeps, "ROOT", tmp_path)
    codedeps.clear_caches()
    try:
        assert codedeps.function_closure("r1.e:f") == {"r1", "r1.e", "r1.a", "r1.b", "r1.sub", "r1.sub.c"}
        assert codedeps.function_closure("r1.e:g") == {"r1", "r1.e", "r1.d", "r1.sub"}
        with pytest.raises(ValueError, match="defines no nothing"):
            codedeps.function_closure("r1.e:nothing")
    finally:
        codedeps.clear_caches()


@pytest.mark.parametrize("overlay", ["configs/gpu-small.yaml", "configs/paper-scale.yaml"])
def test_each_model_is_evaluated_with_the_prompt_it_was_trained_on(overlay):
    # E4 on the H200 (2026-12-04) scored its R1-Zero checkpoint with the chat template, as eval.prompt_style
    # was `chat` by default: R1-Zero is trained on the paper's raw template and is evaluated with it now
    cfg = load_config(REPO / "config.yaml", REPO / overlay, check_files=False)
    assert cfg["eval"]["prompt_style"] == "trained" and cfg["rl_zero"]["prompt_style"] == "r1_zero"
    styles = {m: pipeline.trained_prompt_style(m, cfg) for m in pipeline.running_models(cfg)}
    assert styles["rl_zero"] == "r1_zero"
    assert {m for m, s in styles.items() if s != "chat"} == {"rl_zero"}  # the base, SFT, later RL, students
    assert pipeline.trained_prompt_style("distill_anything", cfg) == "chat"
