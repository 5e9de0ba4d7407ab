"""Benchmark (not a test): r1's GRPO stage vs plain TRL GRPOTrainer defaults, side by side in one process.

    python bench/grpo_gpu.py [--steps 5] [--warmup 2] [--prompts 8] [--generations 8] [--max-completion 256]
                             [--tokenizer DIR] [--json OUT]
    python bench/grpo_gpu.py --device cpu --arch tiny --steps 1 --warmup 1 --prompts 2 --generations 2 \\
                             --max-completion 8        # CPU dry run (not a comparison)

Same model (random-init 402M Qwen2 of docs/gpu.md, saved in bf16), same prompts (arithmetic problems in r1's
chat format), same rewards (r1's accuracy + format), same batch (prompts x generations completions per
optimizer step, one generation round per step), same completion limit, beta 0.001, loss "grpo", lr 1e-6,
temperature 1:
  1. "trl": GRPOTrainer(model=<dir>, args=GRPOConfig(<those settings only>)): TRL's defaults for everything
     else (bf16, gradient checkpointing on, `model.generate` with a dynamic cache);
  2. "r1": r1.grpo.rl_trainer with the rl_zero stage of config.yaml + configs/gpu-small.yaml, the same
     settings on top (so: gradient checkpointing off, rollouts through r1's static-cache CUDA-graph decoder).
Per variant, after --warmup steps (compilation happens there): median seconds per optimizer step, completion
tokens/s (completion tokens / step time), rollout (generation) seconds per step, peak GPU memory, and the MFU
of the training part (step time minus rollout time): model FLOPs 6*N*T for the policy's forward + backward
plus 2*N*T for the reference model's forward (beta > 0), T = batch x (padded prompt + completion) tokens, plus
the attention score/value products, over the H200's dense bf16 peak (989 TFLOP/s).
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import sys
from pathlib import Path

from gpu_common import (
    H200_BF16_PEAK,
    ROOT,
    Clock,
    add_common_args,
    arithmetic_problems,
    build_model_dir,
    environment,
    peak_memory_gb,
    step_timer,
    write_json,
)


def stage_config(steps: int, a) -> tuple[dict, dict]:
    """rl_zero of config.yaml + configs/gpu-small.yaml (as Snakemake merges them), with the bench's sizes."""
    import yaml
    from snakemake.utils import update_config

    cfg: dict = {}
    for f in ("config.yaml", "configs/gpu-small.yaml"):
        update_config(cfg, yaml.safe_load((ROOT / f).read_text()))
    stage = copy.deepcopy(cfg["rl_zero"])
    stage["prompt_style"] = "chat"
    stage["trl"].update(common_trl(steps, a))
    stage["trl"].update(save_strategy="no")
    return stage, cfg["grading"]


def common_trl(steps: int, a) -> dict:
    return dict(
        per_device_train_batch_size=a.prompts * a.generations,
        num_generations=a.generations,
        max_completion_length=a.max_completion,
        max_steps=steps,
        learning_rate=1e-6,
        beta=0.001,
        loss_type="grpo",
        temperature=1.0,
        logging_steps=1,
        seed=0,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--steps", type=int, default=5, help="measured optimizer steps per variant")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured first steps per variant")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--max-completion", type=int, default=256)
    ap.add_argument(
        "--variants", default="trl,r1", help="comma list of: trl, r1, r1-dynamic (r1 with HF generate)"
    )
    args = ap.parse_args(argv)

    import pandas as pd
    import torch
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from r1.grpo import rl_prompt_dataset, rl_trainer
    from r1.rewards import build_reward_funcs

    dev = args.device
    clock = Clock(dev)
    model_dir, n_params = build_model_dir(args.arch, args.tokenizer, dev, args.workdir)
    mcfg = __import__("json").loads((Path(model_dir) / "config.json").read_text())
    total = args.warmup + args.steps
    rows = arithmetic_problems(args.prompts * total * 2, seed=1)
    train = pd.DataFrame(
        {
            "id": [f"p{r['row']}" for r in rows],
            "problem": [r["problem"] for r in rows],
            "answer": [r["answer"] for r in rows],
            "language": "en",
        }
    )
    dataset = rl_prompt_dataset(train, len(train), "chat", seed=0)
    stage, grading = stage_config(total, args)
    results = {
        "env": environment(dev),
        "model": {"arch": args.arch, "n_params": n_params},
        "setup": {
            "prompts": args.prompts,
            "generations": args.generations,
            "max_completion_length": args.max_completion,
            "beta": 0.001,
            "loss_type": "grpo",
            "rewards": [r["name"] for r in stage["rewards"]],
            "warmup_steps": args.warmup,
            "measured_steps": args.steps,
        },
        "variants": {},
    }

    def make_trl():
        specs = [
            {
                **(
                    {"mode": grading.get("mode"), "timeout_s": grading.get("timeout_s")}
                    if r["name"] == "accuracy"
                    else {}
                ),
                **r,
            }
            for r in stage["rewards"]
        ]
        funcs, weights = build_reward_funcs(specs)
        cpu = dict(use_cpu=True, bf16=False, gradient_checkpointing=False) if dev == "cpu" else {}
        gargs = GRPOConfig(
            output_dir=f"{args.workdir}/trl",
            report_to="none",
            save_strategy="no",
            reward_weights=weights,
            **common_trl(total, args),
            **cpu,
        )
        tok = AutoTokenizer.from_pretrained(model_dir)
        tok.padding_side = "left"
        return GRPOTrainer(
            model=model_dir, reward_funcs=funcs, args=gargs, train_dataset=dataset, processing_class=tok
        )

    def make_r1(cache_implementation=None):
        s = copy.deepcopy(stage)
        s["trl"]["cache_implementation"] = cache_implementation
        return rl_trainer(
            model_dir=model_dir,
            dataset=dataset,
            stage_cfg=s,
            stage="bench_r1",
            grading=grading,
            work_dir=Path(f"{args.workdir}/r1"),
            seed=0,
        )

    makers = {"trl": make_trl, "r1": make_r1, "r1-dynamic": lambda: make_r1("dynamic")}
    for name in args.variants.split(","):
        trainer = makers[name]()
        timer = step_timer(clock)
        trainer.add_callback(timer)
        gen_times, comp_tokens, shapes = [], [], []
        orig = trainer._generate_single_turn

        def timed(prompt_ids, *a, _orig=orig, _rec=(gen_times, comp_tokens, shapes), **kw):
            t0 = clock.now()
            out = _orig(prompt_ids, *a, **kw)
            _rec[0].append(clock.now() - t0)
            _rec[1].append(sum(len(c) for c in out[0]))
            _rec[2].append((len(prompt_ids), max(map(len, prompt_ids)), max(map(len, out[0]))))
            return out

        trainer._generate_single_turn = timed
        peak_memory_gb(dev, reset=True)
        t_train = clock.now()
        trainer.train()
        wall = clock.now() - t_train
        w = args.warmup
        step_s, gen_s, toks = timer.steps[w:], gen_times[w:], comp_tokens[w:]
        batch, p_len, c_len = shapes[-1]
        policy = trainer.accelerator.unwrap_model(trainer.model)
        n = sum(p.numel() for p in policy.parameters())
        tokens = batch * (p_len + c_len)
        attn = (
            2 * 2 * mcfg["num_hidden_layers"] * mcfg["hidden_size"] * (p_len + c_len) / 2
        )  # causal QK^T + AV
        fwd = (2 * n + attn) * tokens
        train_flops = 3 * fwd + (fwd if trainer.beta > 0 else 0)
        med_step, med_gen = statistics.median(step_s), statistics.median(gen_s)
        train_part = med_step - med_gen
        row = {
            "s_per_step_median": round(med_step, 3),
            "s_per_step_all": [round(x, 3) for x in timer.steps],
            "rollout_s_median": round(med_gen, 3),
            "train_part_s": round(train_part, 3),
            "completion_tokens_per_step": statistics.median(toks),
            "completion_tok_per_s": round(sum(toks) / sum(step_s), 1),
            "rollout_tok_per_s": round(sum(toks) / sum(gen_s), 1),
            "peak_gpu_gb": round(peak_memory_gb(dev), 2),
            "train_flops_per_step": train_flops,
            "mfu_train_part": round(train_flops / train_part / H200_BF16_PEAK, 4) if train_part > 0 else None,
            "batch": batch,
            "prompt_len_padded": p_len,
            "completion_len_max": c_len,
            "gradient_checkpointing": trainer.args.gradient_checkpointing,
            "bf16": trainer.args.bf16,
            "compile_and_warmup_s": round(sum(timer.steps[:w]), 1),
            "wall_s": round(wall, 1),
            "reward_mean": [lg.get("reward") for lg in timer.logs if "reward" in lg],
            "completion_mean_length": [
                lg.get("completions/mean_length") for lg in timer.logs if "completions/mean_length" in lg
            ],
        }
        results["variants"][name] = row
        print(
            f"{name:<11} {row['s_per_step_median']:>7.3f} s/step  "
            f"{row['completion_tok_per_s']:>9,.0f} compl tok/s  "
            f"rollout {row['rollout_s_median']:.3f} s  train part {row['train_part_s']:.3f} s  "
            f"MFU(train) {100 * (row['mfu_train_part'] or 0):.1f}%  peak {row['peak_gpu_gb']} GB  "
            f"(warm-up {row['compile_and_warmup_s']} s)",
            flush=True,
        )
        del trainer, policy, orig, timed
        gc.collect()
        if dev == "cuda":
            torch.cuda.empty_cache()

    v = results["variants"]
    if "trl" in v and "r1" in v:
        results["speedup_s_per_step"] = round(v["trl"]["s_per_step_median"] / v["r1"]["s_per_step_median"], 2)
        print(
            f"\nr1 GRPO step vs plain TRL defaults: {results['speedup_s_per_step']}x "
            f"({v['trl']['s_per_step_median']} -> {v['r1']['s_per_step_median']} s/step)",
            flush=True,
        )
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
