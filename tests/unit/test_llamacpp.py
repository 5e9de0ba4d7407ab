"""Opt-in: llama.cpp's server loads r1's GGUF exports and runs them as transformers runs the checkpoint.

    LLAMA_SERVER=/path/to/llama-server .venv/bin/pytest tests/unit/test_llamacpp.py -v

Skipped without LLAMA_SERVER (CI has no llama.cpp; see docs/serving.md for the recorded run).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from r1.export import export_gguf, export_hf
from tests.unit.llamacpp_probe import expectations, probe

SERVER = os.environ.get("LLAMA_SERVER")
pytestmark = pytest.mark.skipif(
    not (SERVER and Path(SERVER).is_file()), reason="set LLAMA_SERVER to a llama-server binary to run"
)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_llama_server_runs_the_export(tmp_path, arch):
    from r1.models import load_smollm2_tokenizer, random_init_model, save_model
    from r1.prompts import R1_CHATML_TEMPLATE

    tok = load_smollm2_tokenizer()
    tok.chat_template = R1_CHATML_TEMPLATE
    # initializer_range 0.1: greedy paths that vary, with logit gaps wide enough for two implementations
    arch_cfg = {"architecture": arch, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
    arch_cfg.update(num_key_value_heads=1, intermediate_size=128, initializer_range=0.1)
    save_model(random_init_model(arch_cfg, tok, seed=0), tok, tmp_path / "model")
    hf = export_hf(tmp_path / "model", tmp_path / "hf")
    expected = expectations(str(hf))
    for gguf_type in ("f32", "q8_0"):
        report = probe(
            SERVER,
            str(export_gguf(tmp_path / "model", tmp_path / f"m-{gguf_type}.gguf", gguf_type)),
            expected,
        )
        assert report["loaded"], report.get("log")
        assert all(t["equal"] for t in report["tokens"]), report["tokens"]
        assert all(c["equal"] for c in report["chats"]), report["chats"]
        if gguf_type == "f32":
            assert all(g["equal"] for g in report["greedy"]), report["greedy"]
