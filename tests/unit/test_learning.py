"""Training must learn, not only change weights: GRPO through r1's trainer, rewards and held-out evaluation.

A random-init 30k-parameter Llama with a 16-symbol character vocabulary answers "a+b=" with one token. The
task (answer with the first digit of the prompt) is learnable from scratch; the held-out prompts are digit
pairs never trained on. With r1's accuracy reward the held-out pass@1 (measured by r1.heldout during
training, before the first step and after the last) must rise far above chance (1/16); with the random
reward (the control arm of docs/results.md) it must not. This fails if the GRPO loss, the advantage
computation, the reward wiring or the held-out evaluation breaks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

VOCAB = ["<pad>", "<eos>", "<unk>", *"0123456789", "+", "=", "\n"]
TEMPLATE = "{{ messages[0]['content'].split('\\n')[0] }}"  # the problem line only, no instruction


def char_model(out: Path) -> Path:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    tok.chat_template = TEMPLATE
    import torch

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
        tie_word_embeddings=True,
        max_position_embeddings=64,
    )
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def problems(pairs) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "problem": [f"{a}+{b}=" for a, b in pairs],
            "answer": [str(a) for a, _ in pairs],
            "language": "en",
            "id": [f"{a}{b}" for a, b in pairs],
        }
    )


def run_grpo(
    tmp_path: Path, rewards: list[dict], stage: dict | None = None, trl: dict | None = None
) -> list[dict]:
    """Train on the char task (GRPO, or what `stage` sets, `trl` over the settings below); return the held-out
    rows (before the first step, after half the steps and after the last)."""
    from r1.checkpoints import metrics_callback
    from r1.grpo import rl_prompt_dataset, rl_trainer
    from r1.train import attach_heldout

    model = char_model(tmp_path / "model")
    pairs = [(a, b) for a in range(10) for b in range(10)]
    heldout = [(a, b) for a, b in pairs if (a + 3 * b) % 5 == 0]  # 20 pairs, never trained on
    train = problems([p for p in pairs if p not in heldout] * 8)
    bench = tmp_path / "heldout.jsonl"
    bench.write_text(
        "".join(json.dumps({"question": f"{a}+{b}=", "answer": str(a)}) + "\n" for a, b in heldout)
    )
    stage_cfg = {
        "prompt_style": "chat",
        "rewards": rewards,
        "trl": {
            "max_steps": 60,
            "learning_rate": 3e-3,
            "per_device_train_batch_size": 64,
            "num_generations": 8,
            "max_completion_length": 1,
            "temperature": 1.0,
            "beta": 0.0,
            "loss_type": "grpo",
            "save_strategy": "no",
            "logging_steps": 1,
            "lr_scheduler_type": "constant",
            "disable_tqdm": True,
            **(trl or {}),
        },
        **(stage or {}),
    }
    work = tmp_path / "work"
    work.mkdir()
    dataset = rl_prompt_dataset(train, len(train), "chat", seed=0)
    trainer = rl_trainer(
        model_dir=str(model),
        dataset=dataset,
        stage_cfg=stage_cfg,
        stage="rl_zero",
        grading={"mode": "strict", "timeout_s": 2.0},
        work_dir=work,
        seed=0,
        callbacks=[metrics_callback(work / "metrics.jsonl")],
    )
    spec = {
        "name": "copy",
        "path": str(bench),
        "problem_field": "question",
        "answer_field": "answer",
        "answer_format": "integer",
    }
    heldout_cfg = {
        "cfg": {
            "every_steps": stage_cfg["trl"]["max_steps"] // 2,
            "n": 20,
            "k": 8,
            "temperature": 1.0,
            "max_new_tokens": 1,
        },
        "benchmarks": [spec],
    }
    attach_heldout(trainer, heldout_cfg, trainer.processing_class, "chat", {"mode": "strict"}, work, 0)
    trainer.train()
    from r1.heldout import read_curve

    return read_curve(work / "metrics.jsonl")


@pytest.mark.timeout(600)
def test_grpo_accuracy_reward_learns_and_random_reward_does_not(tmp_path):
    learned = run_grpo(tmp_path / "accuracy", [{"name": "accuracy", "weight": 1.0}])
    control = run_grpo(tmp_path / "random", [{"name": "random", "weight": 1.0, "p": 0.5, "seed": 0}])
    key = "heldout/copy/pass@1"
    assert [r["step"] for r in learned] == [0, 30, 60]
    start, end = learned[0][key], learned[-1][key]
    assert start < 0.2, f"a random-init model should be near chance (1/16) at first, got {start}"
    assert end >= start + 0.25, (
        f"GRPO with the accuracy reward did not learn: held-out pass@1 {start} -> {end}"
    )
    assert learned[-1]["heldout/copy/ci95_lo"] > learned[0]["heldout/copy/ci95_hi"]
    c_start, c_end = control[0][key], control[-1][key]
    assert c_end < c_start + 0.25, f"the random reward should teach nothing, got {c_start} -> {c_end}"


def test_nonfinite_gradient_step_is_skipped():
    import torch
    from transformers import TrainerControl, TrainerState

    from r1.checkpoints import nonfinite_guard

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    guard = nonfinite_guard()
    model(torch.ones(1, 3)).sum().backward()
    model.weight.grad[0, 0] = float("nan")
    guard.on_pre_optimizer_step(None, TrainerState(), TrainerControl(), model=model)
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    logs = {"loss": 0.1}
    guard.on_log(None, TrainerState(), TrainerControl(), logs=logs)
    assert logs["nonfinite_skipped"] == 1
    # a finite step goes through
    model(torch.ones(1, 3)).sum().backward()
    guard.on_pre_optimizer_step(None, TrainerState(), TrainerControl(), model=model)
    opt.step()
    assert not torch.equal(before[0], model.weight)


def test_rl_stage_warns_when_no_group_has_reward_variance(caplog):
    from transformers import TrainerControl, TrainerState

    from r1.grpo import no_signal_watch

    watch = no_signal_watch("rl_zero", window=3)
    seen = []
    for frac in [1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0]:
        logs = {"loss": 0.0, "reward": 0.0, "frac_reward_zero_std": frac}
        watch.on_log(None, TrainerState(), TrainerControl(), logs=logs)
        seen.append(logs["no_signal_steps"])
    assert seen == [1, 2, 0, 1, 2, 3, 4]  # a step with signal resets the count
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "rl_zero" in r.getMessage()]
    assert len(warnings) == 1 and "3 logged steps in a row" in warnings[0].getMessage()
    logs = {"loss": 0.1}  # a trainer that does not log the fraction (PPO's critic steps): left alone
    watch.on_log(None, TrainerState(), TrainerControl(), logs=logs)
    assert "no_signal_steps" not in logs
