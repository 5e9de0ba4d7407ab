"""Resumable generation: a sampling job killed midway (a time limit, a preemption, the end of a lent-GPU call)
resumes from the chunks it had finished instead of starting over.

`ResumableGenerator` wraps a generator (r1.generation) and splits a `generate` call into chunks of about
`CHUNK_SEQUENCES` sequences, saving each finished chunk atomically under a directory (`R1_RESUME_DIR`, which
r1.rulekit sets per job and removes once the job has succeeded). A chunk is reused only when its key
matches: the model's files (path, size, mtime), the backend, the sampling parameters, the batch size, the
chunk's offset and its prompts — a retrained model or a changed prompt set regenerates. Chunks are
batch-aligned and the backends seed by global position (`offset`), so a chunked, resumed run returns exactly
what one uninterrupted call returns (tests/unit/test_generation_resume.py).

Why: on 2026-12-04 E4's SFT-data generation (2,748 samples of 512 tokens) and task evaluation were stopped at
the end of each lent-GPU call and restarted from nothing in the next; they never finished (docs/results.md).
Training stages resume from their TRL checkpoints; this gives sampling stages the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from pathlib import Path

from r1.atomic import write_json
from r1.rulekit import RESUME_ENV

log = logging.getLogger(__name__)

# Sequences (prompts x samples) per saved chunk, per backend: the transformers backend decodes fixed batches
# (512 sequences: ~a minute of an H200 at 512 tokens); vLLM batches continuously and waits for a chunk's
# longest sample before the next starts, so its chunks are larger (a few stragglers idle less of the GPU).
CHUNK_SEQUENCES = {"transformers": 512, "vllm": 4096}


def model_fingerprint(model_dir: str) -> list:
    """What identifies the weights in `model_dir` without reading them: path, and each top-level file's name,
    size and modification time (a retrained checkpoint rewrites its files)."""
    path = Path(model_dir)
    if not path.is_dir():
        return [str(model_dir)]
    files = sorted(p for p in path.iterdir() if p.is_file())
    return [str(path.resolve()), *[[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]]


def chunk_prompts(n_samples: int, batch_size: int, target: int) -> int:
    """Prompts per chunk: a multiple of the smallest count whose samples fill whole batches (so chunks split
    the job list where an unchunked call's batches split it), about `target` sequences."""
    n = max(1, n_samples)
    unit = math.lcm(max(1, batch_size), n) // n
    return unit * max(1, round(target / (unit * n)))


class ResumableGenerator:
    """A generator whose `generate` saves and reuses finished chunks under `directory` (module docstring)."""

    def __init__(self, inner, model_dir: str, directory: str | os.PathLike):
        self.inner = inner
        self.directory = Path(directory)
        self._model = model_fingerprint(model_dir)
        self._backend = getattr(inner, "backend", type(inner).__name__)

    def __getattr__(self, name):  # tokenizer, backend, model, ... of the wrapped generator
        return getattr(self.inner, name)

    def _key(self, prompts: list[str], params, offset: int) -> str:
        facts = {
            "model": self._model,
            "backend": self._backend,
            "batch_size": getattr(self.inner, "batch_size", None),
            "params": params.to_dict(),
            "offset": offset,
            "prompts": prompts,
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:32]

    def generate(self, prompts: list[str], params, desc: str = "generate"):
        from r1.generation import Sample

        target = CHUNK_SEQUENCES.get(self._backend, CHUNK_SEQUENCES["transformers"])
        size = chunk_prompts(params.n, getattr(self.inner, "batch_size", 1), target)
        starts = range(0, len(prompts), size)
        results, reused = [], 0
        for c, start in enumerate(starts):
            chunk = list(prompts[start : start + size])
            path = self.directory / f"{self._key(chunk, params, start)}.json"
            if path.exists():
                saved = json.loads(path.read_text())
                results += [[Sample(*s) for s in row] for row in saved["samples"]]
                reused += 1
                continue
            label = f"{desc} [{c + 1}/{len(starts)}]" if len(starts) > 1 else desc
            outs = self.inner.generate(chunk, params, desc=label, offset=start)
            write_json(path, {"samples": [[[s.text, s.n_tokens, s.truncated] for s in row] for row in outs]})
            results += outs
        if reused:
            log.info("%s: resumed %d of %d chunks from %s", desc, reused, len(starts), self.directory)
        return results


def resumable(generator, model_dir: str):
    """`generator` wrapped in a ResumableGenerator when the job has a resume directory (R1_RESUME_DIR)."""
    directory = os.environ.get(RESUME_ENV)  # unset (outside a job): not chunked
    return ResumableGenerator(generator, model_dir, directory) if directory else generator
