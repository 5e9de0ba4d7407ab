"""Run r1's vLLM generator on a batch of requests and write the samples as JSON (used by
test_vllm_backend.py).

Runs under the vLLM venv (.venv-vllm), not the main one:

    .venv-vllm/bin/python tests/unit/vllm_probe.py SPEC.json OUT.json

SPEC: {"model_dir": ..., "options": {...load_generator options...},
       "calls": [{"name": ..., "prompts": [...], "params": {...r1.generation.SamplingParams fields...}}, ...]}
OUT:  {"startup_s": float, "vllm_version": str, "torch_version": str,
       "calls": {name: {"seconds": float, "samples": [[{"text", "n_tokens", "truncated"}, ...], ...]}}}

One generator (one vLLM engine) serves every call, so the start-up is paid once.
The __main__ guard is required: vLLM spawns its EngineCore process, which re-imports this module.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict


def main(spec_path: str, out_path: str) -> None:
    t0 = time.perf_counter()
    import torch
    import vllm

    from r1.generation import SamplingParams, load_generator

    with open(spec_path) as f:
        spec = json.load(f)
    gen = load_generator(spec["model_dir"], "vllm", **spec.get("options", {}))
    result = {
        "startup_s": time.perf_counter() - t0,
        "vllm_version": vllm.__version__,
        "torch_version": torch.__version__,
        "calls": {},
    }
    for call in spec["calls"]:
        t = time.perf_counter()
        outs = gen.generate(call["prompts"], SamplingParams(**call["params"]), desc=call["name"])
        result["calls"][call["name"]] = {
            "seconds": time.perf_counter() - t,
            "samples": [[asdict(s) for s in per_prompt] for per_prompt in outs],
        }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
