"""Logit KD (distill.method: gkd) trains a student against a teacher that shares its tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from r1.models import prepare_student
from r1.train import train_gkd


def test_gkd_student_trains_and_logs_loss(tmp_path, tiny_model_dir):
    student = tmp_path / "student_init"
    prepare_student(
        {
            "name": "s",
            "init": {
                "architecture": "qwen2",
                "hidden_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "intermediate_size": 64,
            },
        },
        tiny_model_dir,
        student,
        seed=0,
    )
    data = tmp_path / "data.parquet"
    pd.DataFrame(
        {
            "prompt": [f"What is {i} + 2?" for i in range(8)],
            "completion": [f"<think>{i} + 2 = {i + 2}</think> \\boxed{{{i + 2}}}" for i in range(8)],
        }
    ).to_parquet(data)
    out = tmp_path / "model"
    train_gkd(
        model_dir=str(student),
        teacher_dir=str(tiny_model_dir),
        dataset_parquets=[str(data)],
        stage_cfg={
            "trl": {
                "max_steps": 2,
                "per_device_train_batch_size": 2,
                "max_length": 64,
                "learning_rate": 1e-3,
                "save_steps": 1,
            }
        },
        gkd_cfg={"lmbda": 0.0, "beta": 0.5},
        stage="distill_s",
        work_dir=str(tmp_path / "checkpoints"),
        model_out=str(out),
        metrics_out=str(tmp_path / "metrics.jsonl"),
        seed=0,
        fp="x",
    )
    losses = [
        json.loads(x)["loss"]
        for x in (tmp_path / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(x)
    ]
    assert len(losses) == 2 and all(v > 0 for v in losses)
    assert (Path(out) / "model.safetensors").exists()


# ------------------------------------------------------------------ logit KD (distill.method: kd, r1/kd.py)
def test_kd_loss_on_hand_computed_logits():
    import math

    import torch

    from r1.kd import kd_loss

    ln3 = math.log(3)
    # position i's logits predict labels[i + 1]; labels[1] = -100 masks position 0 (a huge disagreement)
    student = torch.tensor([[[5.0, -5.0], [0.0, 0.0], [ln3, 0.0], [9.0, 9.0]]])
    teacher = torch.tensor([[[-5.0, 5.0], [ln3, 0.0], [ln3, 0.0], [0.0, 0.0]]])
    labels = torch.tensor([[7, -100, 1, 0]])

    def kl(p, q):  # KL(p || q) of two-point distributions
        return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))

    for alpha, temperature in ((0.5, 1.0), (0.3, 2.0), (1.0, 2.0), (0.0, 3.0)):
        # position 1: student uniform, teacher (3:1) at T=1 -> (3^(1/T) : 1) at T
        w = 3 ** (1 / temperature)
        soft1 = kl((w / (w + 1), 1 / (w + 1)), (0.5, 0.5))
        soft2 = 0.0  # position 2: student = teacher
        hard1, hard2 = (
            math.log(2),
            -math.log(0.75),
        )  # CE of label 1 under (1/2, 1/2), of label 0 under (3/4, 1/4)
        soft, hard = (soft1 + soft2) / 2, (hard1 + hard2) / 2
        expected = alpha * temperature**2 * soft + (1 - alpha) * hard
        loss, s, h = kd_loss(student, teacher, labels, alpha=alpha, temperature=temperature)
        assert s.item() == pytest.approx(soft, rel=1e-5) and h.item() == pytest.approx(hard, rel=1e-5)
        assert loss.item() == pytest.approx(expected, rel=1e-5), (alpha, temperature)
    # gradients reach the student only
    student.requires_grad_(True)
    kd_loss(student, teacher, labels)[0].backward()
    assert student.grad[0, 0].abs().sum() == 0 and student.grad[0, 1].abs().sum() > 0


def test_kd_student_trains_and_logs_both_terms(tmp_path, tiny_model_dir):
    from r1.kd import train_kd

    student = tmp_path / "student_init"
    prepare_student(
        {
            "name": "s",
            "init": {
                "architecture": "qwen2",
                "hidden_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "intermediate_size": 64,
            },
        },
        tiny_model_dir,
        student,
        seed=0,
    )
    data = tmp_path / "data.parquet"
    pd.DataFrame(
        {
            "prompt": [f"What is {i} + 2?" for i in range(8)],
            "completion": [f"<think>{i} + 2 = {i + 2}</think> \\boxed{{{i + 2}}}" for i in range(8)],
        }
    ).to_parquet(data)
    train_kd(
        model_dir=str(student),
        teacher_dir=str(tiny_model_dir),
        dataset_parquets=[str(data)],
        stage_cfg={
            "trl": {
                "max_steps": 2,
                "per_device_train_batch_size": 2,
                "max_length": 64,
                "learning_rate": 1e-3,
                "save_steps": 1,
            }
        },
        kd_cfg={"alpha": 0.5, "temperature": 2.0},
        stage="distill_s",
        work_dir=str(tmp_path / "checkpoints"),
        model_out=str(tmp_path / "model"),
        metrics_out=str(tmp_path / "metrics.jsonl"),
        seed=0,
        fp="x",
    )
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "loss" in r]
    assert len(steps) == 2
    for r in steps:  # the logged loss is the mix of the two logged terms
        assert r["kd/soft_kl"] > 0 and r["kd/hard_ce"] > 0
        assert r["loss"] == pytest.approx(0.5 * 4 * r["kd/soft_kl"] + 0.5 * r["kd/hard_ce"], rel=0.05)
    assert (tmp_path / "model" / "model.safetensors").exists()


def test_kd_refuses_students_with_another_tokenizer(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    from r1.kd import check_tokenizers_match

    assert check_tokenizers_match(str(tiny_model_dir), str(tiny_model_dir)) == len(
        AutoTokenizer.from_pretrained(tiny_model_dir)
    )
    other = AutoTokenizer.from_pretrained(tiny_model_dir)
    other.add_tokens(["<r1_extra_token>"])
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(ValueError, match="vocabularies differ .*distill.method: sft"):
        check_tokenizers_match(str(tmp_path / "other"), str(tiny_model_dir))
