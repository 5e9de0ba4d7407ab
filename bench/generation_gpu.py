"""Benchmark (not a test): generation tokens/s of r1's transformers backend vs `model.generate` defaults.

    python bench/generation_gpu.py [--batch 64] [--new-tokens 256] [--also-batch 256] [--tokenizer DIR] \
                                   [--json OUT]
    python bench/generation_gpu.py --device cpu --arch tiny --batch 8 --new-tokens 16   # CPU dry run

One process, one model (random-init 402M Qwen2, bf16, SDPA), the same left-padded prompts (8 arithmetic
problems in r1's chat format, each repeated batch/8 times) and the same sampling (temperature 1, top-p 1,
no top-k):
  1. `model.generate` defaults: dynamic KV cache, no compilation (warmed up with an 8-token call first);
  2. `model.generate(cache_implementation="static")`: HF's static cache, which transformers compiles on CUDA
     (reference: docs/gpu.md's earlier 24x);
  3. r1: r1.generation.TransformersGenerator, which on CUDA decodes with r1.engine.StaticCacheDecoder (static
     cache, the decode step + sampling compiled and replayed as a CUDA graph, no per-token host sync).
For each: the first call (compilation included) and then the median of --repeats calls; tokens are the new
tokens before each row's EOS (random weights rarely emit it); peak GPU memory. Also checks that r1's greedy
tokens equal HF `generate`'s greedy tokens (all of them in fp32 on CPU; on GPU, bf16 kernels differ, so the
fraction of rows whose first --parity-tokens greedy tokens agree is printed), and where a row diverges, why:
HF's own top-1 minus top-2 logit at the first differing token (from a teacher-forced forward over HF's
tokens), and whether r1's token there is HF's runner-up. Divergences at margins within the dtype's rounding
(bf16 keeps 8 bits of mantissa: steps of 0.03-0.06 at logits of 4-16) are rounding, not a decoder bug.
`--parity-dtype float32` also loads the model in fp32 and checks the decoder there (compiled on CUDA), where
every row must agree (issue 15).
"""

from __future__ import annotations

import argparse
import statistics
import sys

from gpu_common import (
    Clock,
    add_common_args,
    arithmetic_problems,
    build_model_dir,
    environment,
    peak_memory_gb,
    write_json,
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(ap)
    ap.add_argument("--batch", type=int, default=64, help="sequences per generate call (8 prompts x batch/8)")
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--also-batch", type=int, nargs="*", default=[], help="extra batch sizes for r1 alone")
    ap.add_argument("--skip-hf-static", action="store_true")
    ap.add_argument("--parity-tokens", type=int, default=64, help="greedy tokens compared with HF generate")
    ap.add_argument(
        "--parity-dtype",
        nargs="*",
        default=[],
        choices=["float32", "bfloat16"],
        help="also check greedy parity with the model loaded in these dtypes (a fresh decoder each)",
    )
    args = ap.parse_args(argv)

    import torch

    from r1.generation import SamplingParams, TransformersGenerator
    from r1.prompts import render_prompt

    dev = args.device
    model_dir, n_params = build_model_dir(args.arch, args.tokenizer, dev, args.workdir)
    clock = Clock(dev)
    gen = TransformersGenerator(model_dir, dtype="auto", device=dev, batch_size=args.batch)
    if dev == "cpu":  # exercise the same decoder eagerly (the CUDA default is compiled CUDA graphs)
        from r1.engine import StaticCacheDecoder

        gen.decoder = StaticCacheDecoder(gen.model, compile=False)
    model, tok = gen.model, gen.tokenizer
    eos = tok.eos_token_id
    n_prompts = 8
    problems = [r["problem"] for r in arithmetic_problems(n_prompts)]
    prompts = [render_prompt(tok, p, "chat") for p in problems]
    results = {
        "env": environment(dev),
        "model": {"arch": args.arch, "n_params": n_params, "dtype": str(gen.dtype)},
        "batch": args.batch,
        "new_tokens": args.new_tokens,
        "runs": {},
    }

    def new_tokens(out, prompt_len: int) -> int:
        new = out[:, prompt_len:]
        is_eos = new == eos
        return int(torch.where(is_eos.any(1), is_eos.int().argmax(1), new.shape[1]).sum())

    def hf_generate(batch: int, **kw):
        texts = [prompts[i % n_prompts] for i in range(batch)]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(dev)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=args.new_tokens,
                pad_token_id=tok.pad_token_id,
                **kw,
            )
        return new_tokens(out, enc["input_ids"].shape[1])

    def r1_generate(batch: int):
        gen.batch_size = batch
        per_prompt = batch // n_prompts
        outs = gen.generate(
            prompts,
            SamplingParams(n=per_prompt, temperature=1.0, top_p=1.0, max_new_tokens=args.new_tokens, seed=0),
            desc="bench",
        )
        return sum(s.n_tokens for samples in outs for s in samples)

    def measure(name: str, fn, batch: int, key: str | None = None, repeats: int | None = None):
        peak_memory_gb(dev, reset=True)
        t0 = clock.now()
        tokens = fn(batch)
        first = clock.now() - t0
        times, toks = [], []
        if repeats == 0:  # nothing to compile: the first call (after the global warm-up) is the measurement
            times, toks = [first], [tokens]
        for _ in range(args.repeats if repeats is None else repeats):
            t0 = clock.now()
            toks.append(fn(batch))
            times.append(clock.now() - t0)
        med = statistics.median(times)
        row = {
            "batch": batch,
            "first_call_s": round(first, 3),
            "first_call_tokens": tokens,
            "median_s": round(med, 4),
            "tokens": statistics.median(toks),
            "tokens_per_s": round(statistics.median(toks) / med, 1),
            "peak_gb": round(peak_memory_gb(dev), 2),
        }
        results["runs"][key or name] = row
        print(
            f"{name:<34} batch {batch:>4}: {row['tokens_per_s']:>10,.0f} tok/s  (median {med:.3f} s for "
            f"{row['tokens']:.0f} tokens; first call {first:.1f} s; peak {row['peak_gb']} GB)",
            flush=True,
        )
        return row

    # Warm-up: CUDA context, cuBLAS handles, SDPA kernels (not counted for anyone).
    prev, args.new_tokens = args.new_tokens, 8
    hf_generate(args.batch)
    args.new_tokens = prev

    base = measure("model.generate defaults (dynamic)", lambda b: hf_generate(b), args.batch, repeats=0)
    if not args.skip_hf_static and dev == "cuda":
        measure(
            "model.generate static (HF compile)",
            lambda b: hf_generate(b, cache_implementation="static"),
            args.batch,
            repeats=1,
        )
    fast = measure("r1 TransformersGenerator", r1_generate, args.batch)
    results["speedup_vs_generate_defaults"] = round(fast["tokens_per_s"] / base["tokens_per_s"], 2)
    for b in args.also_batch:
        measure("r1 TransformersGenerator", r1_generate, b, key=f"r1 TransformersGenerator batch {b}")

    # Greedy agreement with HF generate (same prompts, batch = args.batch): the bench's dtype, then any other.
    texts = [prompts[i % n_prompts] for i in range(args.batch)]
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(dev)
    k = min(args.parity_tokens, args.new_tokens)
    parity = {str(gen.dtype).split(".")[-1]: greedy_parity(model, gen.decoder, enc, k, eos, tok.pad_token_id)}
    for name in args.parity_dtype:
        if name in parity:
            continue
        from transformers import AutoModelForCausalLM

        from r1.engine import StaticCacheDecoder

        other = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, name)).to(dev).eval()
        decoder = StaticCacheDecoder(other, compile=None if dev == "cuda" else False)
        parity[name] = greedy_parity(other, decoder, enc, k, eos, tok.pad_token_id)
        del other, decoder
    results["greedy_parity"] = parity
    agree = next(iter(parity.values()))["rows_equal"]
    results[f"greedy_rows_equal_first_{k}_tokens"] = agree
    for name, p in parity.items():
        print(
            f"greedy ({name}): {p['rows_equal']:.0%} of {args.batch} rows equal HF generate's first {k} "
            "tokens; "
            f"at the {p['n_diverged']} first differing tokens HF's top-1 - top-2 logit margin: median "
            f"{p['diverged_margin_median']}, max {p['diverged_margin_max']} (all tokens: median "
            f"{p['all_margin_median']}); r1 took HF's runner-up in {p['runner_up_share']} of them",
            flush=True,
        )
    print(
        f"\nr1 / model.generate defaults at batch {args.batch}: {results['speedup_vs_generate_defaults']}x",
        flush=True,
    )
    write_json(args.json, results)
    if dev == "cpu" and agree < 1.0:
        print("FAIL: greedy tokens differ from HF generate on CPU (fp32)", file=sys.stderr)
        return 1
    if "float32" in parity and parity["float32"]["rows_equal"] < 1.0:
        print(f"FAIL: fp32 greedy tokens differ from HF generate on {dev}", file=sys.stderr)
        return 1
    return 0


def greedy_parity(model, decoder, enc, k: int, eos: int, pad: int) -> dict:
    """r1's decoder vs HF `generate`, greedy, k new tokens on the same rows: the share of rows that agree on
    all k, and at each row's first differing token HF's own top-1 - top-2 logit margin (a teacher-forced
    forward over HF's tokens) and whether r1 chose HF's runner-up there. Margins are in logits."""
    import torch

    with torch.inference_mode():
        ref = model.generate(**enc, do_sample=False, max_new_tokens=k, pad_token_id=pad)
        p_len = enc["input_ids"].shape[1]
        mine = decoder.generate(
            enc["input_ids"],
            enc["attention_mask"],
            max_new_tokens=k,
            temperature=0,
            eos_token_ids={eos},
            pad_token_id=pad,
        )
        new = ref[:, p_len:]
        t = min(new.shape[1], mine.shape[1])
        same = new[:, :t] == mine[:, :t]
        mask = torch.cat([enc["attention_mask"], torch.ones_like(new)], 1)
        pos = (mask.cumsum(1) - 1).clamp(min=0)  # left padding: positions as `generate` counts them
        out = model(input_ids=ref, attention_mask=mask, position_ids=pos)
        logits = out.logits[:, p_len - 1 : p_len - 1 + t].float()
    top2 = logits.topk(2, dim=-1)
    margin = top2.values[..., 0] - top2.values[..., 1]
    diverged = (~same).any(1)
    first = (~same).int().argmax(1)
    rows = diverged.nonzero().flatten()
    at = margin[rows, first[rows]]
    runner_up = (mine[rows, first[rows]] == top2.indices[rows, first[rows], 1]).float()

    def r(x):
        return round(float(x), 4)

    return {
        "rows_equal": r(1 - diverged.float().mean()),
        "n_diverged": int(len(rows)),
        "diverged_margin_median": r(at.median()) if len(rows) else None,
        "diverged_margin_max": r(at.max()) if len(rows) else None,
        "all_margin_median": r(margin.median()),
        "runner_up_share": r(runner_up.mean()) if len(rows) else None,
    }


if __name__ == "__main__":
    sys.exit(main())
