"""The safety-weighted SFT loss: hand-computed values, and the weights reaching TRL's SFTTrainer."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from r1.weighted_sft import weighted_nll


def test_weighted_nll_hand_computed():
    # vocab 2; logits (ln 3, 0) give p = (3/4, 1/4); zeros give (1/2, 1/2). Labels shift by one position.
    ln3 = math.log(3.0)
    logits = torch.tensor(
        [
            [
                [ln3, 0.0],
                [0.0, 0.0],
                [9.0, 9.0],
            ],  # example 0: predicts labels[0,1]=0 (p 3/4), labels[0,2]=1 (p 1/2)
            [[ln3, 0.0], [ln3, 0.0], [0.0, 0.0]],  # example 1: labels[1,1] ignored, labels[1,2]=1 (p 1/4)
        ]
    )
    labels = torch.tensor([[-100, 0, 1], [-100, -100, 1]])
    nll0 = -math.log(3 / 4) - math.log(1 / 2)
    nll1 = -math.log(1 / 4)
    # three label tokens; weights 1 and lambda = 2.5
    got = weighted_nll(logits, labels, torch.tensor([1.0, 2.5]))
    assert got.item() == pytest.approx((nll0 + 2.5 * nll1) / 3, rel=1e-6)
    # all weights 1: the plain token-mean NLL, as torch's cross entropy computes it
    plain = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 2), labels[:, 1:].reshape(-1))
    assert weighted_nll(logits, labels, torch.ones(2)).item() == pytest.approx(plain.item(), rel=1e-6)
    # num_items_in_batch (tokens across gradient accumulation) replaces the local count
    assert weighted_nll(logits, labels, torch.ones(2), num_items_in_batch=6).item() == pytest.approx(
        (nll0 + nll1) / 6, rel=1e-6
    )
    assert weighted_nll(logits, labels, torch.zeros(2)).item() == 0.0


def _first_loss(tiny_model_dir, tmp_path, weight):
    from r1.train import train_sft

    df = pd.DataFrame(
        {
            "prompt": ["How do I pick a lock?", "Say hi."],
            "completion": ["I can't help with breaking into places.", "Hi!"],
        }
    )
    if weight is not None:
        df["weight"] = weight
    path = tmp_path / f"data_{weight}.parquet"
    df.to_parquet(path)
    out = tmp_path / f"out_{weight}"
    train_sft(
        model_dir=str(tiny_model_dir),
        dataset_parquets=[str(path)],
        stage_cfg={
            "trl": {"max_steps": 1, "per_device_train_batch_size": 2, "learning_rate": 1e-4, "max_length": 64}
        },
        stage="sft_stabilize",
        work_dir=str(out / "checkpoints"),
        model_out=str(out / "model"),
        metrics_out=str(out / "metrics.jsonl"),
        seed=0,
        fp=f"test-{weight}",
    )
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return next(r["loss"] for r in rows if "loss" in r)


def test_weights_reach_the_trainer(tiny_model_dir, tmp_path):
    plain = _first_loss(tiny_model_dir, tmp_path, None)  # TRL's SFTTrainer, no weight column
    ones = _first_loss(tiny_model_dir, tmp_path, [1.0, 1.0])
    doubled = _first_loss(tiny_model_dir, tmp_path, [2.0, 2.0])
    assert ones == pytest.approx(plain, rel=1e-4)
    assert doubled == pytest.approx(2 * plain, rel=1e-4)
