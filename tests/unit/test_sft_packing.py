"""Packed SFT (TRL's bfd packing, padding-free, as configs/gpu-small.yaml trains) computes the padded loss.

A packed batch is one row of several examples whose position_ids restart at 0 at every example; the model
must keep the examples apart (positions and attention) and the loss must stay on the completions. On a
tiny random Llama (initialised wide, std 0.2, so attention to other tokens changes the logits) r1's SFT
trainer gives the same completion-only loss for one packed row as for the same examples padded, and it
gives a different loss once the boundaries leak (negative controls), so the equality is not vacuous.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from r1.train import sft_attn_implementation, sft_dataset, sft_trainer
from tests.conftest import tiny_llama_arch

REPO = Path(__file__).resolve().parents[2]
ROWS = pd.DataFrame(
    {
        "prompt": [
            "What is 2 + 3?",
            "Name a prime number larger than ten and say why it is prime.",
            "Hi",
            "Add 17 and 25, then double the result.",
        ],
        "completion": [
            "<think>\n2 + 3 = 5\n</think>\nThe answer is \\boxed{5}.",
            "<think>\n11 has no divisor between 2 and 10.\n</think>\n11 is prime: \\boxed{11}",
            "Hello! How can I help you today?",
            "<think>\n17 + 25 = 42, and 2 * 42 = 84.\n</think>\n\\boxed{84}",
        ],
    }
)
# tensors the collator adds for padding-free batches: boundaries for varlen kernels
BOUNDARY_KEYS = ("position_ids", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k", "seq_idx")


@pytest.fixture(scope="module")
def wide_model_dir(tmp_path_factory) -> Path:
    from r1.models import load_smollm2_tokenizer, random_init_model, save_model
    from r1.prompts import R1_CHATML_TEMPLATE

    tok = load_smollm2_tokenizer()
    tok.chat_template = R1_CHATML_TEMPLATE
    arch = tiny_llama_arch(initializer_range=0.2)
    out = tmp_path_factory.mktemp("wide_llama") / "model"
    save_model(random_init_model(arch, tok, seed=0), tok, out)
    return out


def _trainer(model_dir, tmp_path, **trl):
    cfg = {"trl": {"max_steps": 1, "max_length": 256, "save_strategy": "no", "report_to": "none", **trl}}
    return sft_trainer(
        model_dir=str(model_dir),
        dataset=sft_dataset(ROWS),
        stage_cfg=cfg,
        stage="sft",
        work_dir=tmp_path / "work",
        seed=0,
    )


@pytest.fixture(scope="module")
def batches(wide_model_dir, tmp_path_factory):
    """(packed trainer, its one batch, padded trainer, its one batch): the four examples either way."""
    tmp = tmp_path_factory.mktemp("packing")
    packed = _trainer(wide_model_dir, tmp, packing=True, per_device_train_batch_size=1)
    padded = _trainer(wide_model_dir, tmp, per_device_train_batch_size=len(ROWS))
    assert len(packed.train_dataset) == 1, "the four examples should fit one 256-token row"
    bp = next(iter(packed.get_train_dataloader()))
    bd = next(iter(padded.get_train_dataloader()))
    return packed, bp, padded, bd


def _loss_and_grad(trainer, batch):
    model = trainer.model.eval()  # no dropout; same weights in both trainers (same directory)
    model.zero_grad()
    loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    grad = model.get_input_embeddings().weight.grad.clone()
    model.zero_grad()
    return loss.item(), grad


def _loss(trainer, batch) -> float:
    with torch.no_grad():
        return trainer.compute_loss(trainer.model.eval(), dict(batch)).item()


def test_the_packed_batch_is_one_padding_free_row_with_completion_only_labels(batches):
    packed, bp, padded, bd = batches
    assert "attention_mask" not in bp and bp["input_ids"].shape[0] == 1
    n_tokens = int(bd["attention_mask"].sum())
    assert bp["input_ids"].shape[1] == n_tokens  # no padding at all
    assert int((bp["position_ids"] == 0).sum()) == len(ROWS)  # one restart per example
    # the same examples: the packed row's sequences are the padded rows without their padding (bfd reorders)
    starts = [*(bp["position_ids"][0] == 0).nonzero().flatten().tolist(), n_tokens]
    packed_seqs = sorted(
        (tuple(bp["input_ids"][0, a:b].tolist()), tuple(bp["labels"][0, a:b].tolist()))
        for a, b in zip(starts, starts[1:], strict=False)
    )
    padded_seqs = sorted(
        (tuple(ids[m.bool()].tolist()), tuple(lab[m.bool()].tolist()))
        for ids, lab, m in zip(bd["input_ids"], bd["labels"], bd["attention_mask"], strict=True)
    )
    assert packed_seqs == padded_seqs
    # completion-only: the loss tokens are all tokens but the prompts (chat template + generation prompt)
    tok = packed.processing_class
    prompt_tokens = sum(
        len(
            tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True)["input_ids"]
        )
        for p in ROWS["prompt"]
    )
    loss_tokens = int((bp["labels"] != -100).sum())
    assert loss_tokens == int((bd["labels"] != -100).sum()) == n_tokens - prompt_tokens
    assert prompt_tokens > len(ROWS)
    assert packed.model.config._attn_implementation == sft_attn_implementation(packed=True)


def test_packed_loss_and_gradient_equal_the_padded_ones(batches):
    packed, bp, padded, bd = batches
    lp, gp = _loss_and_grad(packed, bp)
    ld, gd = _loss_and_grad(padded, bd)
    assert lp == pytest.approx(ld, rel=1e-5, abs=1e-5)
    assert torch.allclose(gp, gd, rtol=1e-4, atol=1e-6), (gp - gd).abs().max()
    assert gp.abs().sum() > 0


@pytest.mark.parametrize(
    "leak",
    [
        # positions not reset: one long sequence, attention crosses the boundaries
        lambda b: {k: v for k, v in b.items() if k not in BOUNDARY_KEYS},
        # positions reset, but an all-ones attention mask: causal attention across the boundaries
        lambda b: {**b, "attention_mask": torch.ones_like(b["input_ids"])},
    ],
    ids=["no_position_ids", "attention_across_examples"],
)
def test_leaking_boundaries_change_the_loss(batches, leak):
    """Negative controls: the equality above would fail if the examples saw each other (measured: the loss
    moves by 0.016 and 0.086 here, while packed and padded differ by 0.0)."""
    packed, bp, _, _ = batches
    honest = _loss(packed, bp)
    leaked = _loss(packed, leak(bp))
    assert abs(leaked - honest) > 1e-3, (honest, leaked)


def test_attention_choice_for_packed_batches(monkeypatch):
    import transformers.utils

    import r1.train as train

    monkeypatch.setattr(train, "cuda_available", lambda: False)
    assert sft_attn_implementation(packed=True) == "sdpa"  # CPU: the dense block-diagonal mask
    monkeypatch.setattr(train, "cuda_available", lambda: True)
    monkeypatch.setattr(train, "flash_attn_installed", lambda: True)
    assert sft_attn_implementation(packed=True) == "flash_attention_2"
    monkeypatch.setattr(train, "flash_attn_installed", lambda: False)
    monkeypatch.setattr(transformers.utils, "is_torch_flex_attn_available", lambda: True)
    assert sft_attn_implementation(packed=True) == "flex_attention"
    assert sft_attn_implementation(packed=False) == "sdpa"  # padded: SDPA's own flash kernel
    monkeypatch.setattr(transformers.utils, "is_torch_flex_attn_available", lambda: False)
    assert sft_attn_implementation(packed=True) == "sdpa"


def test_a_stage_can_override_the_attention(wide_model_dir, tmp_path):
    t = _trainer(
        wide_model_dir,
        tmp_path,
        packing=True,
        per_device_train_batch_size=1,
        model_init_kwargs={"attn_implementation": "eager"},
    )
    assert t.model.config._attn_implementation == "eager"
    assert t.args.model_init_kwargs is None  # consumed: TRL would warn that it ignores it


def test_gpu_small_packs_the_sft_stages_but_not_the_weighted_one():
    from r1.config import merge
    from r1.trl_fields import padding_free

    cfg = merge(
        yaml.safe_load((REPO / "config.yaml").read_text()),
        yaml.safe_load((REPO / "configs/gpu-small.yaml").read_text()),
    )
    for section in ("cold_start_sft", "sft", "distill"):
        assert padding_free(cfg[section]["trl"]), section
    assert cfg["sft_stabilize"]["safety_weight"] not in (None, 1.0)
    assert not padding_free(cfg["sft_stabilize"]["trl"])


def _first_kd_row(student, teacher, tmp_path, **trl) -> dict:
    import json

    from r1.kd import train_kd

    data = tmp_path / "data.parquet"
    ROWS.to_parquet(data)
    out = tmp_path / ("packed" if trl.get("packing") else "padded")
    train_kd(
        model_dir=str(student),
        teacher_dir=str(teacher),
        dataset_parquets=[str(data)],
        stage_cfg={"trl": {"max_steps": 1, "max_length": 256, "save_strategy": "no", **trl}},
        kd_cfg={"alpha": 0.5, "temperature": 2.0},
        stage="distill_s",
        work_dir=str(out / "checkpoints"),
        model_out=str(out / "model"),
        metrics_out=str(out / "metrics.jsonl"),
        seed=0,
        fp="x",
    )
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return next(r for r in rows if "loss" in r)


def test_logit_distillation_on_a_packed_row_equals_the_padded_batch(wide_model_dir, tiny_model_dir, tmp_path):
    """distill.trl packs in configs/gpu-small.yaml, and method kd runs the teacher on the same packed rows."""
    packed = _first_kd_row(
        wide_model_dir, tiny_model_dir, tmp_path, packing=True, per_device_train_batch_size=1
    )
    padded = _first_kd_row(wide_model_dir, tiny_model_dir, tmp_path, per_device_train_batch_size=len(ROWS))
    assert packed["kd/soft_kl"] > 0.01 and packed["kd/hard_ce"] > 1
    for key in ("loss", "kd/soft_kl", "kd/hard_ce"):
        assert packed[key] == pytest.approx(padded[key], rel=1e-4), key
