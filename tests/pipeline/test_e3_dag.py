"""E3 (configs/learn/experiments.yaml) end to end on tiny models: `python -m r1 learn run E3` runs both
arms — distill: rl_zero from the base as the teacher, its verified answers, a student made from the base with
27 of its 30 layers (distill.students[].from_base), SFT with held-out evaluation; rl: the same layer-dropped
model as the base (base_model.keep_layers), GRPO on it alone — and `learn report` records the student's curve
in both arms and the teacher's. The tiny overlay only shrinks sizes: the experiment's configs, arms and
targets are E3's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, copy_repo, overlay

pytestmark = pytest.mark.e2e

HELDOUT = {"benchmarks": ["arith_l1"], "every_steps": 1, "n": 2, "max_new_tokens": 8, "batch_size": 2}


def tiny_e3(tmp_path: Path) -> Path:
    return overlay(
        tmp_path,
        {
            # 30 layers like SmolLM2-135M, so E3's keep_layers: 27 applies as it is
            "base_model": {
                "random_init": {"num_hidden_layers": 30, "hidden_size": 32, "intermediate_size": 64}
            },
            "benchmarks": [
                {
                    "name": "arith_l1",
                    "path": "r1/assets/benchmarks/arith_l1/test.jsonl",
                    "problem_field": "question",
                    "answer_field": "answer",
                    "answer_format": "integer",
                    "id_field": "id",
                    "limit": 2,
                }
            ],
            "rl_zero": {"heldout": HELDOUT, "trl": {"save_steps": 1, "warmup_steps": 0}},
            "distill": {  # tiny.yaml's distill section is replaced back by E3's teacher and student
                "teacher": "rl_zero",
                "students": [{"name": "smol27", "from_base": {"keep_layers": 27}}],
                "num_shards": 1,
                "num_prompts": 4,
                "max_new_tokens": 12,
                "min_examples": 4,  # a random teacher verifies nothing: fill from prompts without a reference
                "fill": "unreferenced",
                "unreferenced_prompts": ["r1/assets/data/self_instruct/prompts.jsonl"],
                "heldout": HELDOUT,
                "trl": {"max_steps": 2, "per_device_train_batch_size": 2, "save_steps": 1, "warmup_steps": 0},
            },
        },
    )


def rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.mark.timeout(900)
def test_e3_both_arms_train_the_layer_dropped_student_and_report_curves(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    runs = tmp_path / "runs"
    env = {**os.environ, "R1_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "r1", "learn", "run", "E3", "--device", "cpu", "--runs", str(runs)]
    cmd += ["--cores", "1", "--config", TINY, str(tiny_e3(tmp_path))]
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=850)
    logs = {arm: (runs / "E3" / arm / "learn.log") for arm in ("distill", "rl")}
    tails = "\n".join(f"--- {a}\n{p.read_text()[-3000:]}" for a, p in logs.items() if p.exists())
    assert proc.returncode == 0, proc.stdout + proc.stderr + tails
    assert json.loads((runs / "E3/status.json").read_text()) == {"distill": "done", "rl": "done"}

    distill, rl = runs / "E3/distill", runs / "E3/rl"
    # rl arm: the base is the student (27 of 30 layers), rl_zero trains it; no distillation ran
    info = json.loads((rl / "results/base_model/info.json").read_text())
    assert info["source_layers"] == 30 and len(info["kept_layers"]) == 27 and info["kept_layers"][-1] == 29
    assert (rl / "results/rl_zero/manifest.json").exists() and not (rl / "results/distill").exists()
    # distill arm: the full base is the teacher's start; the student is made from it with layers kept
    assert "kept_layers" not in json.loads((distill / "results/base_model/info.json").read_text())
    student = distill / "results/distill/students/smol27"
    init = json.loads((student / "init.json").read_text())
    assert init["kept_layers"] == info["kept_layers"] and init["fingerprint"]
    assert json.loads((student / "model/config.json").read_text())["num_hidden_layers"] == 27
    teacher = json.loads((distill / "results/distill/teacher/shard_0/manifest.json").read_text())
    assert any("rl_zero/model" in p for p in json.dumps(teacher["inputs"]).split('"')), teacher["inputs"]
    heldout = [r["step"] for r in rows(student / "metrics.jsonl") if "heldout/arith_l1/pass@1" in r]
    assert heldout == [0, 1, 2], heldout

    out = tmp_path / "res"
    report = [sys.executable, "-m", "r1", "learn", "report", "--runs", str(runs), "--out", str(out)]
    proc = subprocess.run([*report, "--device", "cpu"], cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recs = {r["arm"]: r for r in json.loads((out / "learning.json").read_text())["experiments"]}
    assert set(recs) == {"rl:rl_zero", "distill:rl_zero", "distill:distill_smol27"}
    for r in recs.values():
        assert r["heldout"] == "arith_l1" and r["steps"] == 2 and r["finished"], r
        assert [p["step"] for p in r["curve"]] == [0, 1, 2] and r["mean_step_s"] and r["wall_s"], r
    # both students start from the same weights: the same held-out answers before their first step
    assert recs["rl:rl_zero"]["base_acc"] == recs["distill:distill_smol27"]["base_acc"]
    assert (out / "learning_E3_cpu.png").exists()
