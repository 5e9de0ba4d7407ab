"""r1's static-cache decoder (r1/engine.py) against HF `generate` on CPU: the same greedy tokens in fp32.

On CUDA the same loop runs compiled into a CUDA graph (bench/generation_gpu.py measures the bf16 parity
there); eagerly on CPU it must reproduce HF `generate` token for token, so any divergence on the GPU comes
from precision or kernels, not from the decoding logic (padding, positions, cache, EOS handling)."""

from __future__ import annotations

import pytest

from tests.conftest import tiny_llama_arch

MAX_NEW = 64


def _prompts(tok, n: int = 12) -> list[str]:
    # different lengths: left padding, positions and the attention mask are exercised
    return [
        tok.apply_chat_template(
            [{"role": "user", "content": "What is " + " + ".join(str(j) for j in range(i + 1)) + "?"}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def model_and_tok():
    """A tiny random Llama with the SmolLM2 tokenizer, initialised wide (std 0.2) so that greedy tokens vary
    with the input (at the usual std 0.02 every row repeats one token and any decoder would pass)."""
    from r1.models import load_smollm2_tokenizer, random_init_model
    from r1.prompts import R1_CHATML_TEMPLATE

    tok = load_smollm2_tokenizer()
    tok.chat_template = R1_CHATML_TEMPLATE
    tok.padding_side = "left"
    arch = tiny_llama_arch(initializer_range=0.2)
    model = random_init_model(arch, tok, seed=0).float().eval()
    return model, tok


def _hf_greedy(model, tok, enc, eos: list[int]):
    import torch

    with torch.no_grad():
        out = model.generate(
            **enc,
            max_new_tokens=MAX_NEW,
            do_sample=False,
            eos_token_id=eos,
            pad_token_id=tok.pad_token_id,
        )
    return out[:, enc["input_ids"].shape[1] :]


def _rows(tokens, eos: set[int]) -> list[list[int]]:
    """Each row up to and including its first EOS."""
    rows = []
    for ids in tokens.tolist():
        end = next((i + 1 for i, t in enumerate(ids) if t in eos), len(ids))
        rows.append(ids[:end])
    return rows


@pytest.mark.parametrize("eos_ids", [[], "tokenizer"])
def test_static_decoder_greedy_equals_hf_generate_fp32(model_and_tok, eos_ids):
    from r1.engine import StaticCacheDecoder

    model, tok = model_and_tok
    eos = [tok.eos_token_id] if eos_ids == "tokenizer" else []
    model.generation_config.eos_token_id = eos or None  # no EOS: every row runs the full 64 tokens
    enc = tok(_prompts(tok), return_tensors="pt", padding=True, add_special_tokens=False)
    assert len(set(enc["attention_mask"].sum(1).tolist())) > 1, "prompts must differ in length"

    ours = StaticCacheDecoder(model, compile=False, len_multiple=32).generate(
        enc["input_ids"],
        enc["attention_mask"],
        max_new_tokens=MAX_NEW,
        temperature=0.0,
        eos_token_ids=set(eos),
        pad_token_id=tok.pad_token_id,
    )
    ref = _hf_greedy(model, tok, enc, eos or None)
    got, want = _rows(ours, set(eos)), _rows(ref, set(eos))
    assert len({tuple(r[:8]) for r in want}) > len(want) // 2, "the model must answer prompts differently"
    mismatched = [i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b]
    first = mismatched[0] if mismatched else None
    assert not mismatched, (
        f"rows {mismatched} differ from HF generate: {got[first][:16]}, want {want[first][:16]}"
    )
    if not eos:
        assert all(len(r) == MAX_NEW for r in got)


def test_static_decoder_is_reusable_across_batches(model_and_tok):
    """The cached static KV cache is reset between calls: a second call gives the same tokens."""
    from r1.engine import StaticCacheDecoder

    model, tok = model_and_tok
    dec = StaticCacheDecoder(model, compile=False, len_multiple=32)
    enc = tok(_prompts(tok, 4), return_tensors="pt", padding=True, add_special_tokens=False)
    kw = dict(max_new_tokens=16, temperature=0.0, eos_token_ids=set(), pad_token_id=tok.pad_token_id)
    first = dec.generate(enc["input_ids"], enc["attention_mask"], **kw)
    other = tok(_prompts(tok, 8)[4:], return_tensors="pt", padding=True, add_special_tokens=False)
    dec.generate(other["input_ids"], other["attention_mask"], **kw)
    again = dec.generate(enc["input_ids"], enc["attention_mask"], **kw)
    assert first.tolist() == again.tolist()


@pytest.mark.parametrize("fast_bf16", [False, True])
def test_auto_generation_dtype_follows_the_hardware(monkeypatch, fast_bf16):
    """`generation.dtype: auto`: bf16 on CUDA; on CPU only where bf16 runs in hardware (emulated bf16 matmuls
    were 4-6x slower than fp32 on an AVX2 CPU); explicit dtypes are kept."""
    import torch

    from r1 import generation

    monkeypatch.setattr(generation, "cpu_has_fast_bf16", lambda: fast_bf16)
    assert generation.resolve_dtype("auto", "cpu") == (torch.bfloat16 if fast_bf16 else torch.float32)
    assert generation.resolve_dtype("auto", "cuda:0") == torch.bfloat16
    assert generation.resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    assert generation.resolve_dtype("float32", "cuda") == torch.float32


@pytest.mark.parametrize("fast_bf16", [True, False])
def test_trl_bf16_auto_follows_the_cpus_bf16_hardware(monkeypatch, tmp_path, fast_bf16):
    """`trl: {bf16: auto}` (configs/learn/cpu.yaml): bf16 autocast on CPUs that multiply bf16 in hardware,
    fp32 elsewhere; an explicit bool is kept as given."""
    from trl import GRPOConfig

    from r1 import generation, train

    monkeypatch.setattr(generation, "cpu_has_fast_bf16", lambda: fast_bf16)
    args = train.make_args(GRPOConfig, {"bf16": "auto"}, tmp_path, 0, "rl_zero")
    assert args.bf16 is fast_bf16
    assert train.make_args(GRPOConfig, {"bf16": False}, tmp_path, 0, "rl_zero").bf16 is False


def test_the_private_low_precision_copy_decodes_on_sdpa(model_and_tok):
    """A live model trained on another attention (packed SFT: flex_attention or FlashAttention-2) is sampled
    through SDPA, the path the static-cache graph is built for; the live model keeps its own."""
    import copy

    import torch

    from r1.engine import StaticCacheDecoder

    model = copy.deepcopy(model_and_tok[0])
    model.set_attn_implementation("eager")
    dec = StaticCacheDecoder(model, compile=False, weights_dtype=torch.bfloat16)
    assert dec.model is not model and dec.model.config._attn_implementation == "sdpa"
    assert model.config._attn_implementation == "eager"
