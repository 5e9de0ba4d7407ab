"""`export_all` on the tiny run: the final R1 model and the student, as HF directories with model cards and as
GGUF files, on top of a finished `distill_all` run (nothing upstream reruns); and the run's training stages
left TensorBoard event files behind."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import copy_run, dry_run, overlay, snakemake, tiny_config
from tests.unit.test_export import REL_TOL, load, max_rel_diff, run
from tests.unit.test_tracking import scalars

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def exported(pipeline_run, tmp_path_factory):
    work = copy_run(pipeline_run, tmp_path_factory.mktemp("export") / "run")
    assert dry_run(work, target="export_all") == {"export_model": 2, "export_all": 1}
    snakemake(work, "--cores", "2", "export_all")
    return work


def test_export_all_writes_both_formats_of_the_final_models(exported):
    cfg = tiny_config(exported)
    students = [f"distill_{s['name']}" for s in cfg["distill"]["students"]]
    for name, source in [("sft_stabilize", "results/sft_stabilize/model")] + [
        (s, f"results/distill/students/{s.removeprefix('distill_')}/model") for s in students
    ]:
        out = exported / "results" / "export" / name
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["rule"] == "export_model" and len(manifest["outputs"]) == 2
        ref_logits, ref_greedy = run(*load(exported / source))
        logits, greedy = run(*load(out / "hf"))
        assert greedy == ref_greedy and max_rel_diff(ref_logits, logits) == 0.0, name
        _, model = load(out, gguf_file=f"{name}.gguf", tokenizer_dir=out / "hf")
        assert type(model).__name__ == json.loads((out / "hf/config.json").read_text())["architectures"][0]
        tok, _ = load(out / "hf")
        logits, _ = run(tok, model)
        assert max_rel_diff(ref_logits, logits) <= REL_TOL["f16"], name


def test_model_card_has_stages_eval_rows_and_manifest_chain(exported):
    card = (exported / "results/export/sft_stabilize/hf/README.md").read_text()
    # The weights' history: the 800k-style SFT restarts from the base model.
    stages = card[card.index("## Training stages") : card.index("## Evaluation")]
    assert stages.index("`base_model`") < stages.index("`sft`") < stages.index("`sft_stabilize`")
    assert "`rl_zero`" not in stages
    assert "a random initialisation" in card  # the tiny config's base model
    # Its eval rows (both benchmarks, pass@k with the paper columns).
    evaluation = card[card.index("## Evaluation") : card.index("## How to prompt it")]
    assert "gsm8k" in evaluation and "latex_toy" in evaluation and "pass@1" in evaluation
    assert "pass@1_ci95_lo" in evaluation and "pass@1_ci95_hi" in evaluation  # the table's 95% CI
    # The manifest chain reaches the data and every upstream stage, and every recorded hash still holds.
    provenance = card[card.index("## Provenance") :]
    for m in (
        "results/sft_stabilize/manifest.json",
        "results/rl_reasoning/manifest.json",
        "results/data/manifest.json",
    ):
        assert f"`{m}`" in provenance, m
    assert "| NO |" not in provenance
    student = (exported / "results/export/distill_tiny_qwen/hf/README.md").read_text()
    assert "teacher `sft_stabilize`" in student and '"architecture": "qwen2"' in student


def test_audit_accepts_the_export_manifests(exported):
    proc = subprocess.run(
        [sys.executable, "-m", "r1", "audit", "results/"], cwd=exported, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "results/export/sft_stabilize/sft_stabilize.gguf" in proc.stdout


def test_training_stages_wrote_tensorboard_events(pipeline_run):
    cfg = tiny_config(pipeline_run)
    for stage in ("rl_zero", "rl_reasoning"):
        got = scalars(pipeline_run / "results" / stage / "tb")
        for tag in (
            "train/reward",
            "train/kl",
            "train/completions/mean_length",
            "train/accuracy/timeout_frac",
        ):
            assert [s for s, _ in got[tag]] == list(range(1, cfg[stage]["trl"]["max_steps"] + 1)), (
                stage,
                tag,
            )
        assert any(t.startswith("train/rewards/") for t in got)
    for stage in ("cold_start_sft", "sft", "sft_stabilize", "distill/students/tiny_qwen"):
        assert "train/loss" in scalars(pipeline_run / "results" / stage / "tb"), stage


def test_where_the_curves_go_reruns_nothing(pipeline_run, tmp_path):
    """Config `tracking` reaches the jobs beside their params: changing it schedules no job."""
    cfg = overlay(tmp_path, {"tracking": {"report_to": ["tensorboard", "wandb"], "project": "elsewhere"}})
    assert dry_run(pipeline_run, cfg) == {}
