"""The CUDA generation engine: r1's static-cache decoder and the TRL GRPO rollout override that uses it.

`StaticCacheDecoder` samples a HF causal LM with a static KV cache and a compiled (CUDA-graph) decode step;
`TransformersGenerator` (r1.generation) uses it for every sampling stage on CUDA, and `grpo_trainer_class`
sends TRL's GRPO rollouts through it. Nothing here is used on CPU except in tests (compile=False).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def use_static_decoder(cache_implementation: str | None, device: str) -> bool:
    """Whether r1's StaticCacheDecoder replaces HF `generate`: on CUDA when `cache_implementation` is unset,
    "auto" or "static"; any other value (e.g. "dynamic") keeps HF `generate` with that cache. Never on CPU,
    where `generate` is unchanged (and `cache_implementation`, if set, goes to it as before)."""
    return str(device).startswith("cuda") and cache_implementation in (None, "auto", "static")


def sample_tokens(logits, temperature: float, top_p: float = 1.0):
    """Next token per row from last-position logits (batch, vocab): greedy when temperature <= 0, else
    temperature + nucleus (top-p, as HF's TopPLogitsWarper) sampling. Sampling uses the exponential race
    (argmax p_i / q_i with q_i ~ Exp(1), an exact draw from p): no host sync, so it compiles into a CUDA
    graph."""
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
    """Fast batched sampling for a HF causal LM on CUDA: a static KV cache, an eager prefill, then one
    compiled decode step (forward + sampling) that torch.compile(mode="reduce-overhead") replays as a CUDA
    graph, with the tokens kept on the GPU (one host sync every `check_every` steps, to stop once every row
    has ended).

    Shapes are fixed per (batch, cache length) and the cache length is rounded up to `len_multiple`, so a run
    compiles a few graphs at most; caches are kept and reset between calls (their addresses are baked into the
    graphs). Works on a live training model too (GRPO rollouts): with `weights_dtype` set (e.g. bf16 rollouts
    of fp32 master weights under autocast), it decodes from a private copy of the model in that dtype, on
    SDPA, refreshed from the live weights at the start of every `generate` (one pass over the weights, not one
    per token); otherwise it reads the model's own weights, in place, at every replay.
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
            if model.config._attn_implementation != "sdpa":  # e.g. an SFT model on flex_attention (packing)
                model.set_attn_implementation("sdpa")
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
        """Left-padded prompts (batch, P) -> new tokens (batch, T <= max_new_tokens), `pad_token_id` after
        each
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


def grpo_trainer_class():
    """TRL's GRPOTrainer, with its transformers rollouts sent through r1's StaticCacheDecoder on CUDA.

    TRL's own path is `model.generate` with a dynamic cache (or, with `cache_implementation="static"`, a
    static cache with compilation disabled); both are far from what the GPU can do at RL batch sizes
    (docs/gpu.md). The fast path is taken when the policy is on CUDA, `trl.cache_implementation` is unset or
    "static", and nothing needs TRL's generate: no vLLM, no continuous batching, no images, no top-k / min-p /
    repetition penalty, no ZeRO-3 / FSDP sharding (gathered weights change address every step). Otherwise: TRL
    unchanged.
    """
    import torch
    from trl import GRPOTrainer

    class R1GRPOTrainer(GRPOTrainer):
        _r1_decoder = None

        def _r1_fast_rollouts(self, images, multimodal_fields) -> bool:
            args = self.args
            if args.use_vllm or getattr(self, "use_transformers_continuous_batching", False):
                return False
            if images is not None and any(im is not None for im in images) or multimodal_fields:
                return False
            if (self.top_k or 0) > 0 or self.min_p is not None or (self.repetition_penalty or 1.0) != 1.0:
                return False
            if self.is_fsdp_enabled or (self.is_deepspeed_enabled and self._dist.is_zero3):
                return False
            return use_static_decoder(args.cache_implementation, str(self.accelerator.device))

        def _generate_single_turn(
            self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False
        ):
            from trl.models import unwrap_model_for_generation
            from trl.trainer.utils import pad

            if not self._r1_fast_rollouts(images, multimodal_fields):
                return super()._generate_single_turn(
                    prompt_ids, images, multimodal_fields, num_generations, has_tool_images=has_tool_images
                )
            device = self.accelerator.device
            pad_id = self._tokenizer.pad_token_id
            prompts = [torch.tensor(ids) for ids in prompt_ids]
            input_ids = pad(prompts, padding_value=pad_id, padding_side="left").to(device)
            mask = pad([torch.ones_like(t) for t in prompts], padding_value=0, padding_side="left").to(device)
            with (
                unwrap_model_for_generation(
                    self.model_wrapped,
                    self.accelerator,
                    gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
                ) as model,
                torch.no_grad(),
            ):
                if self._r1_decoder is None or self._r1_decoder.source is not model:
                    # bf16 (fp16) rollouts from the fp32 master weights: a private copy refreshed per rollout.
                    dtype = torch.bfloat16 if self.args.bf16 else torch.float16 if self.args.fp16 else None
                    self._r1_decoder = StaticCacheDecoder(model, weights_dtype=dtype)
                new = self._r1_decoder.generate(
                    input_ids,
                    mask,
                    max_new_tokens=self.max_completion_length,
                    temperature=self.temperature,
                    top_p=self.top_p,
                    eos_token_ids=self.eos_token_ids,
                    pad_token_id=pad_id,
                )
            if new is None:  # static cache too large for free memory
                return super()._generate_single_turn(
                    prompt_ids, images, multimodal_fields, num_generations, has_tool_images=has_tool_images
                )
            # Keep each completion up to and including its first EOS, as TRL's generate path does.
            is_eos = torch.isin(new, torch.tensor(self.eos_token_ids, device=new.device))
            lengths = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1) + 1, new.size(1)).tolist()
            rows = new.tolist()
            return [row[:n] for row, n in zip(rows, lengths, strict=True)], None

    return R1GRPOTrainer
