"""Layer-dropped models (base_model.keep_layers, distill.students[].from_base): N evenly spaced decoder
layers of the source, first and last included, the same weights, renumbered, and they generate (KV cache
included)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from r1.models import kept_layer_indices, prepare_base_model, prepare_student

ARCH = {
    "architecture": "llama",
    "hidden_size": 32,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 64,
}


def test_kept_indices_are_evenly_spaced_with_both_ends():
    kept = kept_layer_indices(30, 15)
    assert kept == [0, 2, 4, 6, 8, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29]
    assert {b - a for a, b in zip(kept, kept[1:], strict=False)} == {2, 3}
    assert sorted(set(range(30)) - set(kept_layer_indices(30, 27))) == [5, 15, 24]  # E3's student
    assert kept_layer_indices(6, 3) == [0, 2, 5]
    assert kept_layer_indices(6, 6) == list(range(6)) and kept_layer_indices(6, 1) == [0]
    assert kept_layer_indices(6, 2) == [0, 5]
    with pytest.raises(ValueError, match="keep_layers: 7 is not between 1 and the model's 6"):
        kept_layer_indices(6, 7)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("keep") / "base"
    cfg = {"source": "random_init", "random_init": ARCH, "chat_template": "r1_chatml"}
    facts = prepare_base_model(cfg, out, 0)
    assert "kept_layers" not in facts
    return out


def layer_weights(model_dir, i: int) -> dict[str, torch.Tensor]:
    weights = load_file(str(model_dir / "model.safetensors"))
    prefix = f"model.layers.{i}."
    return {k.removeprefix(prefix): v for k, v in weights.items() if k.startswith(prefix)}


def check_derived(source, derived, kept: list[int]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((derived / "config.json").read_text())
    assert config["num_hidden_layers"] == len(kept)
    for new, old in enumerate(kept):
        ours, theirs = layer_weights(derived, new), layer_weights(source, old)
        assert ours.keys() == theirs.keys() and ours
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), (new, old)
    assert not layer_weights(derived, len(kept))
    src, dst = load_file(str(source / "model.safetensors")), load_file(str(derived / "model.safetensors"))
    for k in ("model.embed_tokens.weight", "model.norm.weight"):
        assert torch.equal(src[k], dst[k])
    model = AutoModelForCausalLM.from_pretrained(derived)
    assert len(model.model.layers) == len(kept)
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == list(range(len(kept)))
    tok = AutoTokenizer.from_pretrained(derived)
    ids = tok("What is 2 + 3?", return_tensors="pt").input_ids
    cached = model.generate(ids, max_new_tokens=6, do_sample=False, use_cache=True)
    uncached = model.generate(ids, max_new_tokens=6, do_sample=False, use_cache=False)
    assert cached.shape[1] == ids.shape[1] + 6 and torch.equal(cached, uncached)


def test_base_model_keep_layers_records_the_kept_layers(source, tmp_path):
    out = tmp_path / "base3"
    cfg = {"source": "hf_dir", "path": str(source), "chat_template": "r1_chatml", "keep_layers": 3}
    facts = prepare_base_model(cfg, out, 0)
    assert facts["source_layers"] == 6 and facts["kept_layers"] == kept_layer_indices(6, 3)
    check_derived(source, out, facts["kept_layers"])


def test_student_from_base_keeps_layers_of_the_base(source, tmp_path):
    out = tmp_path / "student"
    facts = prepare_student({"name": "s4", "from_base": {"keep_layers": 4}}, source, out, 0, base_dir=source)
    assert facts["kept_layers"] == kept_layer_indices(6, 4) and facts["name"] == "s4"
    check_derived(source, out, facts["kept_layers"])
    with pytest.raises(ValueError, match="from_base needs the base model directory"):
        prepare_student({"name": "s", "from_base": {}}, source, tmp_path / "x", 0)
