"""The r1 source files a pipeline job runs, computed from its imports: no hand-kept map can drift.

A rule's `code` input is `code_files(target)` for the `module:function` it runs: the function itself, the
module-level functions it calls, the imports of those and of the module's top level, and then, module by
module, every r1 module those import (all of a module's imports, at top level or inside functions, since any
of them may run). Importing `a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`, so those count too.
The analysis is static (the AST; nothing is imported), so it is fast enough for every DAG load.

Only the entry module is read function by function: a stage module holds several entry points, and teacher
generation must not rerun because the student trainer in the same module changed.
"""

from __future__ import annotations

import ast
import functools
import gc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout holding the r1 package
PACKAGE = "r1"


@functools.cache
def module_file(name: str) -> Path | None:
    """The file of r1 module `name` (a package's `__init__.py`), or None for anything outside r1."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    py = base.with_suffix(".py")
    return py if py.is_file() else None


@functools.cache
def _tree(path: Path) -> ast.Module:
    gc.disable()  # parsing allocates many objects: a collection pass over the caller's heap is the slow part
    try:
        return ast.parse(path.read_text(), filename=str(path))
    finally:
        gc.enable()


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _import_statements(nodes):
    """The import statements among `nodes` and the statements nested in them (expressions are skipped)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        for value in node.__dict__.values():
            if isinstance(value, list):
                stack += [v for v in value if isinstance(v, (ast.stmt, ast.excepthandler, ast.match_case))]


def _imports(nodes, module: str) -> set[str]:
    """r1 modules that the import statements among `nodes` (searched recursively) may run."""
    is_package = module_file(module) is not None and module_file(module).name == "__init__.py"
    names: set[str] = set()
    for node in _import_statements(nodes):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: None if is_package else -1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {m for name in names for m in _with_parents(name) if module_file(m) is not None}


@functools.cache
def _module_imports(name: str) -> frozenset[str]:
    return frozenset(_imports(_tree(module_file(name)).body, name))


@functools.cache
def module_closure(module: str) -> frozenset[str]:
    """`module` and every r1 module it may import, transitively (all imports of each module)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += _module_imports(name) - seen
    return frozenset(seen)


@functools.cache
def function_closure(target: str) -> frozenset[str]:
    """r1 modules that `module:function` may run: see the module docstring."""
    module, _, func = target.partition(":")
    path = module_file(module)
    if path is None:
        raise ValueError(f"{target}: {module} is not an r1 module")
    tree = _tree(path)
    defs = {
        n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    if func not in defs:
        raise ValueError(f"{target}: {path} defines no {func}")
    used, todo = set(), [func]
    while todo:  # the function and the module-level functions and classes it refers to
        name = todo.pop()
        if name in used or name not in defs:
            continue
        used.add(name)
        todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name)]
    top_level = [
        n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    roots = set(_with_parents(module)) | _imports(top_level + [defs[n] for n in used], module)
    roots.discard(module)
    out = set(_with_parents(module))
    for name in roots:
        out |= module_closure(name)
    return frozenset(out)


def code_files(target: str, relative_to: Path | None = ROOT) -> list[str]:
    """Sorted source files of `function_closure(target)`, relative to `relative_to` (None: absolute)."""
    files = {module_file(m) for m in function_closure(target)}
    return sorted(str(f.relative_to(relative_to)) if relative_to else str(f) for f in files)


def clear_caches() -> None:
    """Forget every parsed file (for a process that edits r1's sources, e.g. a test)."""
    for f in (module_file, _tree, _module_imports, module_closure, function_closure):
        f.cache_clear()
