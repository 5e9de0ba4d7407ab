"""A sampling job killed midway resumes from its finished chunks and returns what one uninterrupted call
returns (r1.generation_resume); a retrained model or other prompts never reuse a chunk."""

from __future__ import annotations

import os

import pytest

import r1.generation_resume as gr
from r1.generation import Sample, SamplingParams, load_generator


class FakeGenerator:
    """Deterministic samples that depend on each prompt's global index, like the real backends' seeds."""

    backend = "fake"
    batch_size = 4

    def __init__(self, fail_at_call: int | None = None):
        self.calls: list[tuple[int, int]] = []
        self.fail_at_call = fail_at_call

    def generate(self, prompts, params, desc="generate", offset=0):
        if self.fail_at_call is not None and len(self.calls) == self.fail_at_call:
            raise KeyboardInterrupt("killed at the call's time limit")
        self.calls.append((offset, len(prompts)))
        return [
            [Sample(f"{p}|{offset + i}|{j}", 3 + j, j == 0) for j in range(params.n)]
            for i, p in enumerate(prompts)
        ]


PARAMS = SamplingParams(n=2, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=3)
PROMPTS = [f"question {i}" for i in range(11)]


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "model.safetensors").write_bytes(b"weights")
    return d


def test_a_killed_run_resumes_from_its_chunks_and_matches_an_uninterrupted_one(
    tmp_path, model_dir, monkeypatch
):
    monkeypatch.setitem(gr.CHUNK_SEQUENCES, "transformers", 8)  # chunks of 4 prompts x 2 samples: 3 chunks
    whole = FakeGenerator().generate(PROMPTS, PARAMS)
    killed = FakeGenerator(fail_at_call=2)
    with pytest.raises(KeyboardInterrupt):
        gr.ResumableGenerator(killed, str(model_dir), tmp_path / "resume").generate(PROMPTS, PARAMS)
    assert killed.calls == [(0, 4), (4, 4)] and len(list((tmp_path / "resume").iterdir())) == 2
    again = FakeGenerator()
    out = gr.ResumableGenerator(again, str(model_dir), tmp_path / "resume").generate(PROMPTS, PARAMS)
    assert again.calls == [(8, 3)]  # only the chunk the killed run had not finished
    assert out == whole


def test_a_retrained_model_or_other_params_never_reuse_a_chunk(tmp_path, model_dir, monkeypatch):
    monkeypatch.setitem(gr.CHUNK_SEQUENCES, "transformers", 8)
    gr.ResumableGenerator(FakeGenerator(), str(model_dir), tmp_path / "r").generate(PROMPTS, PARAMS)
    (model_dir / "model.safetensors").write_bytes(b"retrained weights")
    fresh = FakeGenerator()
    gr.ResumableGenerator(fresh, str(model_dir), tmp_path / "r").generate(PROMPTS, PARAMS)
    assert len(fresh.calls) == 3
    other = FakeGenerator()
    params = SamplingParams(n=2, temperature=0.7, top_p=1.0, max_new_tokens=8, seed=3)
    gr.ResumableGenerator(other, str(model_dir), tmp_path / "r").generate(PROMPTS, params)
    assert len(other.calls) == 3


@pytest.mark.parametrize("n,batch", [(1, 16), (4, 64), (3, 64), (8, 6), (16, 4)])
def test_chunks_split_where_batches_split(n, batch):
    size = gr.chunk_prompts(n, batch, 512)
    assert size * n % batch == 0 and size >= 1
    assert size * n <= max(2 * 512, batch * n)


def test_chunked_sampling_of_a_real_model_equals_one_call(tmp_path, tiny_model_dir, monkeypatch):
    # batch 4, n 2: chunks of 2 prompts (4 sequences) must reproduce the unchunked call's sampled tokens,
    # i.e. the transformers backend seeds each batch by its global position (`offset`)
    monkeypatch.setitem(gr.CHUNK_SEQUENCES, "transformers", 4)
    options = dict(batch_size=4, dtype="float32", device="cpu")
    prompts = [f"Count to {i}:" for i in range(7)]
    plain = load_generator(str(tiny_model_dir), "transformers", **options)
    whole = plain.generate(prompts, PARAMS)
    monkeypatch.setenv("R1_RESUME_DIR", str(tmp_path / "resume"))
    chunked = load_generator(str(tiny_model_dir), "transformers", resumable=True, **options)
    assert isinstance(chunked, gr.ResumableGenerator)
    assert chunked.generate(prompts, PARAMS) == whole
    assert len(os.listdir(tmp_path / "resume")) == 4
    resumed = load_generator(str(tiny_model_dir), "transformers", resumable=True, **options)
    resumed.inner.generate = None  # every chunk must come from disk now
    assert resumed.generate(prompts, PARAMS) == whole


def test_each_job_has_its_own_resume_directory():
    from r1.rulekit import JobSpec, resume_dir

    def spec(**wildcards):
        return JobSpec(
            target="m:f", rule="eval_generate", input={}, output={}, params={}, wildcards=wildcards
        )

    a, b = (
        resume_dir(spec(model="rl_zero", benchmark="gsm8k")),
        resume_dir(spec(model="sft", benchmark="gsm8k")),
    )
    assert a != b and a.parent.name == "eval_generate" and a.parent.parent.name == ".resume"
    assert a.name == "benchmark=gsm8k__model=rl_zero" and resume_dir(spec()).name == "_"
