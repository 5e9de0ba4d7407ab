"""Benchmark (not a test): SFT throughput of r1's SFT stage vs plain TRL SFTTrainer defaults, side by side in
one process.

    python bench/sft_gpu.py --model /root/w/base [--steps 20] [--warmup 3] [--json OUT]  # SmolLM2 weights
    python bench/sft_gpu.py --tokenizer DIR [--json OUT]      # random-init SmolLM2-135M shape, that tokenizer
    python bench/sft_gpu.py --data rows.parquet ...           # your own prompt/completion rows (.jsonl too)
    python bench/sft_gpu.py --device cpu --steps 2 --warmup 1 # CPU smoke run (tiny model; not a comparison)

Same model (SmolLM2-135M-Instruct: real weights from --model, e.g. bench/gpu_setup.sh's /root/w/base, or a
random init of its shape with --tokenizer), same data (r1's SFT rows: a conversational prompt and an assistant
completion, loss on the completion only; by default synthetic R1-style chain-of-thought answers to GSM8K
questions, lengths log-normal around --median-tokens, so that examples vary in length as reasoning traces do),
variants:
  trl        SFTTrainer(model=<dir>, args=SFTConfig(<output, steps, seed only>)): TRL's defaults for the rest
             (padded batches of 8, max_length 1024, gradient checkpointing on, fp32 weights + bf16 autocast,
             transformers' default attention, SDPA);
  r1         r1.train.sft_trainer with the `sft` stage of config.yaml + configs/gpu-small.yaml, as the
             pipeline runs it: bfd packing, padding-free (8 rows of 1024 tokens), the attention of
             r1.train.sft_attn_implementation (FlashAttention-2 if installed, else flex_attention), gradient
             checkpointing off;
  r1-sdpa    r1 on SDPA (trl.model_init_kwargs.attn_implementation: sdpa): packed rows, dense block mask;
  r1-padded  r1 without packing (padded batches of the same size, SDPA).
Per variant, after --warmup steps (compilation happens there): tokens/s (real tokens, padding excluded,
over the measured steps' wall time), completion (loss) tokens/s, median s/step, the share of padding in the
batches, peak GPU memory, and the MFU of useful work (6 N T for the real tokens plus causal attention within
each example, 6 x layers x hidden x sum L_i^2, over the H200's 989 TFLOP/s; gradient checkpointing's
recompute and padding are not useful work). Done when r1's tokens/s >= 2x trl's.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import sys
import traceback
from pathlib import Path

from gpu_common import (
    ARCHS,
    H200_BF16_PEAK,
    ROOT,
    Clock,
    add_common_args,
    build_model_dir,
    environment,
    peak_memory_gb,
    step_timer,
    write_json,
)

VARIANTS = ("trl", "r1", "r1-sdpa", "r1-padded")
TARGET_SPEEDUP = 2.0


def stage_config() -> dict:
    """The `sft` stage of config.yaml + configs/gpu-small.yaml (as Snakemake merges them)."""
    import yaml
    from snakemake.utils import update_config

    cfg: dict = {}
    for f in ("config.yaml", "configs/gpu-small.yaml"):
        update_config(cfg, yaml.safe_load((ROOT / f).read_text()))
    return copy.deepcopy(cfg["sft"])


# ---- data ------------------------------------------------------------------------------------------------
def synthetic_rows(n: int, tokenizer, median_tokens: int, sigma: float, seed: int = 0):
    """R1-style SFT rows: GSM8K questions answered by a <think> chain of arithmetic steps and checks, then a
    boxed summary. Each completion is grown to a target length drawn from a log-normal (median
    `median_tokens`, shape `sigma`), measured in the tokenizer's tokens per step."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    questions = [
        json.loads(line)["question"]
        for line in (ROOT / "r1/assets/data/gsm8k/train.jsonl").read_text().splitlines()[: max(n, 1)]
    ]
    checks = (
        "Wait, let me double-check that step.",
        "That seems right, so I will carry this result forward.",
        "Let me re-read the question to make sure I use the right quantities.",
        "Hmm, another way to see it: the order of the additions does not matter here.",
    )

    def step(i: int) -> str:
        a, b = int(rng.integers(2, 999)), int(rng.integers(2, 99))
        op, val = [("+", a + b), ("-", a - b), ("*", a * b)][int(rng.integers(3))]
        text = f"Step {i}: {a} {op} {b} = {val}."
        return text + (" " + checks[int(rng.integers(len(checks)))] if rng.random() < 0.35 else "")

    probe = " ".join(step(i) for i in range(200))
    tokens_per_step = len(tokenizer(probe)["input_ids"]) / 200
    targets = np.clip(rng.lognormal(np.log(median_tokens), sigma, n), 32, 4 * median_tokens)
    prompts, completions = [], []
    for i in range(n):
        steps = max(1, round(targets[i] / tokens_per_step))
        body = "\n".join(step(j + 1) for j in range(steps))
        answer = int(rng.integers(1, 10_000))
        completions.append(f"<think>\n{body}\n</think>\nSo the answer is \\boxed{{{answer}}}.")
        prompts.append(questions[i % len(questions)])
    return pd.DataFrame({"prompt": prompts, "completion": completions})


def read_rows(path: str):
    import pandas as pd

    df = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_json(path, lines=True)
    missing = {"prompt", "completion"} - set(df.columns)
    if missing:
        raise SystemExit(
            f"{path}: needs columns prompt and completion (r1's SFT rows); missing {sorted(missing)}"
        )
    return df[["prompt", "completion"]]


def length_stats(df, tokenizer, max_length: int) -> dict:
    """Token lengths of the rows as the trainers see them (chat template applied)."""
    import numpy as np

    lengths = np.array(
        [
            len(
                tokenizer.apply_chat_template(
                    [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
                )["input_ids"]
            )
            for p, c in zip(df["prompt"], df["completion"], strict=True)
        ]
    )
    return {
        "rows": int(len(lengths)),
        "tokens_mean": round(float(lengths.mean()), 1),
        "tokens_p10": int(np.percentile(lengths, 10)),
        "tokens_p50": int(np.percentile(lengths, 50)),
        "tokens_p90": int(np.percentile(lengths, 90)),
        "tokens_max": int(lengths.max()),
        "share_over_max_length": round(float((lengths > max_length).mean()), 3),
    }


# ---- measurement -----------------------------------------------------------------------------------------
def count_tokens(trainer, layers: int, hidden: int):
    """Wrap trainer.compute_loss to record, per optimizer step, real tokens, loss tokens, batch slots
    (padding included) and the useful attention FLOPs (causal, within each example)."""
    from transformers import TrainerCallback

    pending: list[tuple[int, int, int, float]] = []

    class Steps(TrainerCallback):
        def __init__(self):
            self.rows: list[tuple[int, int, int, float]] = []

        def on_step_end(self, args, state, control, **kw):
            self.rows.append(tuple(sum(x) for x in zip(*pending, strict=True)) if pending else (0, 0, 0, 0.0))
            pending.clear()

    orig = trainer.compute_loss

    def compute_loss(model, inputs, *a, **kw):
        if "attention_mask" in inputs:  # padded: one example per row
            lengths = inputs["attention_mask"].sum(dim=1)
        else:  # padding-free: the collator's example boundaries
            lengths = inputs["cu_seq_lens_q"].diff()
        real = int(lengths.sum())
        loss_tokens = int((inputs["labels"][:, 1:] != -100).sum())
        attn = 6.0 * layers * hidden * float((lengths.double() ** 2).sum())
        pending.append((real, loss_tokens, int(inputs["input_ids"].numel()), attn))
        return orig(model, inputs, *a, **kw)

    trainer.compute_loss = compute_loss
    steps = Steps()
    trainer.add_callback(steps)
    return steps


def describe(trainer) -> dict:
    from r1.train import is_padding_free

    a = trainer.args
    packed = is_padding_free(a)
    return {
        "attention": trainer.model.config._attn_implementation,
        "batches": f"{'packed' if packed else 'padded'} {a.per_device_train_batch_size} x "
        f"{'' if packed else '<='}{a.max_length}",
        "packed": packed,
        "per_device_train_batch_size": a.per_device_train_batch_size,
        "max_length": a.max_length,
        "gradient_checkpointing": a.gradient_checkpointing,
        "bf16": a.bf16,
        "weights_dtype": str(next(trainer.model.parameters()).dtype).split(".")[-1],
        "completion_only_loss": trainer.completion_only_loss,
    }


def run_variant(name: str, make, args, clock, mcfg: dict) -> dict:
    import torch

    dev = args.device
    trainer = make()
    info = describe(trainer)
    timer = step_timer(clock, keep_log=lambda logs: "loss" in (logs or {}))
    trainer.add_callback(timer)
    counts = count_tokens(trainer, mcfg["num_hidden_layers"], mcfg["hidden_size"])
    n_params = sum(p.numel() for p in trainer.model.parameters())
    peak_memory_gb(dev, reset=True)
    t0 = clock.now()
    trainer.train()
    wall = clock.now() - t0
    w = args.warmup
    step_s, rows = timer.steps[w:], counts.rows[w:]
    real = sum(r[0] for r in rows)
    loss_tokens = sum(r[1] for r in rows)
    slots = sum(r[2] for r in rows)
    flops = sum(6.0 * n_params * r[0] + r[3] for r in rows)
    secs = sum(step_s)
    losses = [lg["loss"] for lg in timer.logs]
    row = {
        **info,
        "tokens_per_s": round(real / secs, 1),
        "loss_tokens_per_s": round(loss_tokens / secs, 1),
        "s_per_step_median": round(statistics.median(step_s), 4),
        "s_per_step_all": [round(x, 4) for x in timer.steps],
        "real_tokens_per_step": round(real / len(rows), 1),
        "padding_share": round(1 - real / slots, 3) if slots else None,
        "mfu_useful": round(flops / secs / H200_BF16_PEAK, 4) if dev == "cuda" else None,
        "peak_gpu_gb": round(peak_memory_gb(dev), 2) if dev == "cuda" else None,
        "compile_and_warmup_s": round(sum(timer.steps[:w]), 1),
        "wall_s": round(wall, 1),
        "loss_first_last": [losses[0], losses[-1]] if losses else None,
    }
    del trainer
    gc.collect()
    if dev == "cuda":
        torch.cuda.empty_cache()
    return row


def table(variants: dict) -> str:
    head = (
        f"{'variant':<10} {'attention':<18} {'batches':<19} {'ckpt':<5} {'s/step':>7} {'tokens/s':>10} "
        f"{'loss tok/s':>10} {'pad':>5} {'MFU':>6} {'peak GB':>8}"
    )
    lines = [head, "-" * len(head)]
    for name, r in variants.items():
        if "error" in r:
            lines.append(f"{name:<10} FAILED: {r['error']}")
            continue
        mfu = f"{100 * r['mfu_useful']:.1f}%" if r["mfu_useful"] is not None else "-"
        peak = r["peak_gpu_gb"] if r["peak_gpu_gb"] is not None else "-"
        ckpt = "on" if r["gradient_checkpointing"] else "off"
        lines.append(
            f"{name:<10} {r['attention']:<18} {r['batches']:<19} {ckpt:<5} "
            f"{r['s_per_step_median']:>7.3f} {r['tokens_per_s']:>10,.0f} {r['loss_tokens_per_s']:>10,.0f} "
            f"{100 * r['padding_share']:>4.0f}% {mfu:>6} {peak:>8}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.set_defaults(arch=None)
    ap.add_argument(
        "--model", default=None, help="HF model dir with its tokenizer (e.g. SmolLM2-135M-Instruct)"
    )
    ap.add_argument(
        "--data", default=None, help="prompt/completion rows (.parquet or .jsonl); default synthetic"
    )
    ap.add_argument("--rows", type=int, default=4096, help="synthetic rows")
    ap.add_argument("--median-tokens", type=int, default=320, help="synthetic completions: median length")
    ap.add_argument("--sigma", type=float, default=0.6, help="synthetic completions: log-normal shape")
    ap.add_argument("--steps", type=int, default=20, help="measured optimizer steps per variant")
    ap.add_argument("--warmup", type=int, default=3, help="unmeasured first steps per variant")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of: {', '.join(VARIANTS)}")
    ap.add_argument("--batch", type=int, default=None, help="every variant's per_device_train_batch_size")
    ap.add_argument("--max-length", type=int, default=None, help="every variant's max_length")
    args = ap.parse_args(argv)
    dev = args.device
    if args.arch is None:
        args.arch = "smollm2-135m" if dev == "cuda" else "tiny"
    if dev == "cpu":  # a smoke run: small batches of rows holding a few examples each (not a comparison)
        args.batch = args.batch or 2
        args.max_length = args.max_length or 512
        args.median_tokens = min(args.median_tokens, 48)
        args.rows = min(args.rows, 64)
    unknown = set(args.variants.split(",")) - set(VARIANTS)
    if unknown:
        ap.error(f"--variants: unknown {sorted(unknown)}; choose from {VARIANTS}")

    import torch
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from r1.train import sft_dataset, sft_trainer

    clock = Clock(dev)
    if args.model:
        model_dir = args.model
        model_info = {"dir": model_dir, "weights": "pretrained"}
    else:
        model_dir, n = build_model_dir(args.arch, args.tokenizer, dev, args.workdir)
        model_info = {"arch": args.arch, "weights": "random init", "n_params": n, **ARCHS[args.arch]}
    mcfg = json.loads((Path(model_dir) / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    total = args.warmup + args.steps
    if args.data:
        df = read_rows(args.data)
    else:
        df = synthetic_rows(args.rows, tokenizer, args.median_tokens, args.sigma)
    dataset = sft_dataset(df).shuffle(seed=0)
    stage = stage_config()
    trl = stage["trl"]
    trl.update(max_steps=total, save_strategy="no", seed=0)
    sizes = {
        k: v for k, v in (("per_device_train_batch_size", args.batch), ("max_length", args.max_length)) if v
    }
    trl.update(sizes)
    if dev == "cpu":
        trl.update(bf16=False)  # gpu-small's bf16 autocast is for CUDA
    results = {
        "env": environment(dev),
        "model": model_info,
        "data": {
            "source": args.data or f"synthetic (median {args.median_tokens} tokens, sigma {args.sigma})",
            **length_stats(df, tokenizer, trl["max_length"]),
        },
        "setup": {
            "warmup_steps": args.warmup,
            "measured_steps": args.steps,
            "r1_stage": "sft",
            "r1_trl": trl,
        },
        "variants": {},
    }
    print(json.dumps(results["data"]), flush=True)

    def make_trl():
        cpu = dict(use_cpu=True, bf16=False, gradient_checkpointing=False) if dev == "cpu" else {}
        targs = SFTConfig(
            output_dir=f"{args.workdir}/sft-trl",
            max_steps=total,
            report_to="none",
            save_strategy="no",
            seed=0,
            **sizes,
            **cpu,
        )
        return SFTTrainer(
            model=model_dir,
            args=targs,
            train_dataset=dataset,
            processing_class=AutoTokenizer.from_pretrained(model_dir),
        )

    def make_r1(**overrides):
        s = copy.deepcopy(stage)
        s["trl"].update(overrides)
        return sft_trainer(
            model_dir=model_dir,
            dataset=dataset,
            stage_cfg=s,
            stage="bench_sft",
            work_dir=Path(f"{args.workdir}/sft-r1"),
            seed=0,
        )

    makers = {
        "trl": make_trl,
        "r1": make_r1,
        "r1-sdpa": lambda: make_r1(model_init_kwargs={"attn_implementation": "sdpa"}),
        "r1-padded": lambda: make_r1(packing=False, padding_free=False),
    }
    for name in args.variants.split(","):
        try:
            row = run_variant(name, makers[name], args, clock, mcfg)
        except Exception as e:  # keep the other variants: a lent GPU's minutes are scarce
            traceback.print_exc()
            row = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
            gc.collect()
            if dev == "cuda":
                torch.cuda.empty_cache()
        results["variants"][name] = row
        if "error" not in row:
            print(
                f"{name:<10} {row['tokens_per_s']:>10,.0f} tokens/s  {row['s_per_step_median']:.3f} s/step  "
                f"{row['attention']}, {row['batches']}  (warm-up {row['compile_and_warmup_s']} s)",
                flush=True,
            )

    v = results["variants"]
    print("\n" + table(v), flush=True)
    if "error" not in v.get("trl", {"error": 1}) and "error" not in v.get("r1", {"error": 1}):
        speedup = round(v["r1"]["tokens_per_s"] / v["trl"]["tokens_per_s"], 2)
        results["speedup_tokens_per_s"] = speedup
        results["target_met"] = speedup >= TARGET_SPEEDUP if dev == "cuda" else None
        verdict = (
            f"target >= {TARGET_SPEEDUP}x: {'met' if speedup >= TARGET_SPEEDUP else 'NOT met'}"
            if dev == "cuda"
            else "CPU smoke run: not a comparison"
        )
        print(
            f"\nr1 SFT vs plain TRL SFTTrainer defaults: {speedup}x tokens/s "
            f"({v['trl']['tokens_per_s']:,.0f} -> {v['r1']['tokens_per_s']:,.0f}); {verdict}",
            flush=True,
        )
    write_json(args.json, results)
    return 0 if all("error" not in r for r in v.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
