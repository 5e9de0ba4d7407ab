"""Benchmark (not a test): r1's RL stage with `algorithm: grpo` vs `algorithm: ppo`, side by side.

    python bench/ppo_vs_grpo.py [--steps 5] [--warmup 2] [--prompts 8] [--generations 8]
                                [--max-completion 256] [--model DIR] [--json OUT]   # CUDA: docs/gpu.md's 402M
    python bench/ppo_vs_grpo.py --device cpu --arch tiny --steps 3 --warmup 1 --prompts 2 --generations 4 \\
                                --max-completion 16                                 # CPU

Both variants are r1.grpo.rl_trainer on the rl_zero stage of config.yaml (+ configs/gpu-small.yaml on CUDA)
with the same model (a random-init `--arch`, or `--model DIR`), prompts (arithmetic problems in r1's chat
format), rewards (accuracy + format), batch (prompts x generations completions per optimizer step), completion
limit, lr 1e-6, beta 0.001 (GRPO: KL in the loss; PPO: KL per token in the reward) and seed; PPO adds its
value head, one no-grad forward per rollout batch (rollout log-probs and values) and the value loss. Each
variant runs in its own process, so peak memory is its own: GPU memory allocated on CUDA, resident set size
(ru_maxrss) on CPU. Per variant, after --warmup steps: median seconds per optimizer step, rollout seconds per
step, peak memory, and the mean reward of the measured steps (a random-init model earns ~0: this compares
cost; the learning comparison is the E1 `ppo` arm, configs/learn/experiments.yaml).
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gpu_common import (
    ROOT,
    Clock,
    add_common_args,
    arithmetic_problems,
    build_model_dir,
    environment,
    step_timer,
    write_json,
)

ALGORITHMS = ("grpo", "ppo")


def stage_config(a, steps: int) -> tuple[dict, dict]:
    """rl_zero of config.yaml (+ configs/gpu-small.yaml on CUDA), as Snakemake merges them, with the bench's
    sizes."""
    import yaml

    from r1.config import merge

    cfg: dict = {}
    for f in ("config.yaml", *(["configs/gpu-small.yaml"] if a.device == "cuda" else [])):
        cfg = merge(cfg, yaml.safe_load((ROOT / f).read_text()))
    stage = copy.deepcopy(cfg["rl_zero"])
    stage.pop("heldout", None)
    stage["prompt_style"] = "chat"
    stage["rewards"] = [{"name": "accuracy", "weight": 1.0}, {"name": "format", "weight": 1.0}]
    stage["trl"].update(
        per_device_train_batch_size=a.prompts * a.generations,
        num_generations=a.generations,
        max_completion_length=a.max_completion,
        max_steps=steps,
        learning_rate=1e-6,
        beta=0.001,
        temperature=1.0,
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    if a.device == "cpu":
        stage["trl"].update(use_cpu=True, bf16=False)
    return stage, cfg["grading"]


def peak_memory_gb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def run_one(a, algorithm: str) -> dict:
    """One variant in this process: train warmup + steps optimizer steps, return its row."""
    import pandas as pd

    from r1 import tracking
    from r1.grpo import rl_prompt_dataset, rl_trainer

    tracking.configure({"report_to": []})
    clock = Clock(a.device)
    if a.model:
        model_dir, n_params = a.model, None
    else:
        model_dir, n_params = build_model_dir(a.arch, a.tokenizer, a.device, a.workdir)
    total = a.warmup + a.steps
    rows = arithmetic_problems(a.prompts * total * 2, seed=1)
    train = pd.DataFrame(
        {
            "id": [f"p{r['row']}" for r in rows],
            "problem": [r["problem"] for r in rows],
            "answer": [r["answer"] for r in rows],
            "language": "en",
        }
    )
    stage, grading = stage_config(a, total)
    stage["algorithm"] = algorithm

    trainer = rl_trainer(
        model_dir=model_dir,
        dataset=rl_prompt_dataset(train, len(train), "chat", seed=0),
        stage_cfg=stage,
        stage=f"bench_{algorithm}",
        grading=grading,
        work_dir=Path(tempfile.mkdtemp(dir=a.workdir)),
        seed=0,
    )
    timer = step_timer(clock, keep_log=lambda logs: bool(logs) and "loss" in logs)
    trainer.add_callback(timer)
    gen_times: list[float] = []
    orig = trainer._generate_single_turn

    def timed(*args, **kw):
        t0 = clock.now()
        out = orig(*args, **kw)
        gen_times.append(clock.now() - t0)
        return out

    trainer._generate_single_turn = timed
    trainer.train()
    w = a.warmup
    measured = timer.logs[w:]
    return {
        "algorithm": algorithm,
        "n_params": n_params,
        "s_per_step_median": round(statistics.median(timer.steps[w:]), 3),
        "rollout_s_median": round(statistics.median(gen_times[w:]), 3),
        "peak_memory_gb": round(peak_memory_gb(a.device), 3),
        "memory": "GPU allocated" if a.device == "cuda" else "process RSS",
        "reward_mean": round(statistics.mean(r["reward"] for r in measured), 4),
        "value_loss_mean": (
            round(statistics.mean(r["value_loss"] for r in measured), 4) if algorithm == "ppo" else None
        ),
        "warmup_s": round(sum(timer.steps[:w]), 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--steps", type=int, default=5, help="measured optimizer steps per variant")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured first steps per variant")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--max-completion", type=int, default=256)
    ap.add_argument("--model", default=None, help="an HF model directory instead of a random-init --arch")
    ap.add_argument("--only", choices=ALGORITHMS, help=argparse.SUPPRESS)  # one variant, in this process
    a = ap.parse_args(argv)
    Path(a.workdir).mkdir(parents=True, exist_ok=True)
    if a.only:
        print(json.dumps(run_one(a, a.only)))
        return 0
    rows = {}
    for algorithm in ALGORITHMS:
        cmd = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--only", algorithm]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.stderr.write(proc.stderr[-6000:])
            return proc.returncode
        rows[algorithm] = json.loads(proc.stdout.strip().splitlines()[-1])
    header = f"{'':<6}{'s/step':>9}{'rollout s':>11}{'peak GB':>9}  {'reward':>7}  value loss"
    print(f"{header}  (memory: {rows['ppo']['memory']})")
    for name, r in rows.items():
        vl = "" if r["value_loss_mean"] is None else f"{r['value_loss_mean']:.4f}"
        print(
            f"{name:<6}{r['s_per_step_median']:>9.3f}{r['rollout_s_median']:>11.3f}{r['peak_memory_gb']:>9.3f}"
            f"  {r['reward_mean']:>7.4f}  {vl}"
        )
    write_json(
        a.json,
        {"env": environment(a.device), "args": vars(a), "variants": rows},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
