"""Logit KD (distill.method: gkd) trains a student against a teacher that shares its tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

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
