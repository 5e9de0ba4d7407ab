"""The field names of TRL's config classes (GRPOConfig, SFTConfig, GKDConfig), read from TRL's source without
importing it: importing TRL (torch, transformers) takes seconds, and this runs at every DAG load.

A dataclass's fields are the annotated names of its class body and of its base classes. The bases are
followed through the modules' imports; `transformers.TrainingArguments` is found at its source file (the
transformers package imports its names lazily). tests/unit/test_config.py checks the result against the
real classes, so a TRL upgrade that moves things fails there; if the source cannot be read here, the real
class is imported instead (slow but right).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import gc
import importlib
import importlib.util
from pathlib import Path

# class name -> (module, file under the package directory)
CLASSES = {
    "GRPOConfig": ("trl.trainer.grpo_config", "trl/trainer/grpo_config.py"),
    "SFTConfig": ("trl.trainer.sft_config", "trl/trainer/sft_config.py"),
    "GKDConfig": ("trl.experimental.gkd.gkd_config", "trl/experimental/gkd/gkd_config.py"),
}
LAZY_NAMES = {("transformers", "TrainingArguments"): "transformers.training_args"}


def _source(module: str) -> Path | None:
    top = importlib.util.find_spec(module.split(".")[0])  # finds the package without importing it
    if top is None or not top.submodule_search_locations:
        return None
    base = Path(list(top.submodule_search_locations)[0]).parent.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@functools.cache
def _parse(module: str) -> ast.Module:
    path = _source(module)
    if path is None:
        raise LookupError(module)
    gc.disable()  # parsing allocates many objects: a collection pass over the caller's heap is the slow part
    try:
        return ast.parse(path.read_text())
    finally:
        gc.enable()


def _is_classvar(annotation: ast.expr) -> bool:
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    return (isinstance(node, ast.Name) and node.id == "ClassVar") or (
        isinstance(node, ast.Attribute) and node.attr == "ClassVar"
    )


def _class_fields(module: str, name: str) -> set[str]:
    tree = _parse(module)
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
    if cls is None:
        raise LookupError(f"{module}.{name}")
    fields = {
        n.target.id
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and not _is_classvar(n.annotation)
    }
    imports = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            package = module.split(".")[: -node.level] if node.level else []
            source = ".".join(package + ([node.module] if node.module else []))
            for alias in node.names:
                imports[alias.asname or alias.name] = (source, alias.name)
    for base in cls.bases:
        base_name = ast.unparse(base)
        if base_name in imports:
            source, real = imports[base_name]
            fields |= _class_fields(LAZY_NAMES.get((source, real), source), real)
        elif any(isinstance(n, ast.ClassDef) and n.name == base_name for n in tree.body):
            fields |= _class_fields(module, base_name)
        else:
            raise LookupError(f"{module}.{name}: base {base_name}")
    return fields


@functools.cache
def trl_fields(class_name: str) -> frozenset[str]:
    """Field names of TRL config class `class_name` (a key of CLASSES)."""
    module, _ = CLASSES[class_name]
    try:
        return frozenset(_class_fields(module, class_name))
    except (LookupError, OSError, SyntaxError):
        cls = getattr(importlib.import_module(module), class_name)
        return frozenset(f.name for f in dataclasses.fields(cls))


def padding_free(trl: dict) -> bool:
    """Whether a `trl:` block (SFTConfig fields) asks for padding-free batches, several examples in one row:
    padding_free, or packing with a bfd strategy (TRL 1.16 turns padding-free on there; "bfd" is its
    default)."""
    strategy = trl.get("packing_strategy") or "bfd"
    return bool(trl.get("padding_free") or (trl.get("packing") and strategy in ("bfd", "bfd_split")))
