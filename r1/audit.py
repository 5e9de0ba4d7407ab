"""`python -m r1 audit [results/]`: re-hash every artifact and check every manifest chain back to the sources.

Each job's manifest.json records the sha256 of its inputs, its outputs, the code it ran and the manifests of
the jobs upstream of it. The audit recomputes all of them and gives every recorded output one status:

  ok        the file hashes as recorded and its whole chain back to the sources checks out
  modified  the file exists but its content differs from what its job recorded
  missing   the file (or an upstream manifest) is gone
  stale     the file is as recorded, but what it was made from changed since: an upstream manifest's
            current hash differs from the one recorded downstream (the upstream job was rebuilt or edited), a
            recorded input or code file hashes differently now, or an upstream artifact is itself stale

The exit status is 0 when everything is ok, 1 otherwise (the culprits are named last), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from r1.manifest import MANIFEST_NAME, sha256_path

OK, MODIFIED, MISSING, STALE = "ok", "modified", "missing", "stale"
FAILURES = (MODIFIED, MISSING, STALE)


@dataclass
class Row:
    """One artifact of the table: an output recorded in a manifest (or a manifest that a chain points at)."""

    artifact: str
    rule: str
    status: str
    detail: str = ""


@dataclass(frozen=True)
class Reason:
    """A direct cause of staleness: an input, code file or upstream manifest that changed or went missing."""

    kind: str  # "input" | "code file" | "upstream manifest"
    path: str
    state: str  # "changed" | "missing"
    detail: str = ""

    def __str__(self) -> str:
        if self.state == "missing":
            return f"{self.kind} {self.path} is missing"
        return f"{self.kind} {self.path} changed since this was built{self.detail}"


@dataclass
class JobCheck:
    """What the audit found for one manifest (= one job)."""

    manifest: str
    rule: str
    rows: list[Row] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    upstream: list[str] = field(
        default_factory=list
    )  # root-relative manifests of the jobs this one read from
    stale_via: list[str] = field(default_factory=list)  # those of them that are stale themselves


@dataclass
class AuditResult:
    root: str
    rows: list[Row]
    culprits: list[str]
    n_manifests: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.status == OK for r in self.rows)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in (OK, *FAILURES)}
        for r in self.rows:
            out[r.status] += 1
        return out


class _Hasher:
    """sha256 of files and directories, each computed once per audit (model directories are large)."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[Path, str | None] = {}

    def path(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else self.root / q

    def __call__(self, p: str) -> str | None:
        full = self.path(p)
        if full not in self._cache:
            self._cache[full] = sha256_path(full) if full.exists() else None
        return self._cache[full]


def _short(h: str | None) -> str:
    return h[:12] if h else "none"


def find_root(target: Path) -> Path:
    """The workdir that the manifests' relative paths start from: the parent of the `results` folder."""
    target = target.resolve()
    for d in [target, *target.parents]:
        if d.name == "results":
            return d.parent
    return Path.cwd()


def find_manifests(target: Path) -> list[Path]:
    if target.is_file():
        return [target]
    return sorted(p for p in target.rglob(MANIFEST_NAME) if p.is_file())


def _rel(root: Path, p: Path) -> str:
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(p)


def check_job(manifest_path: Path, root: Path, hasher: _Hasher, check_code: bool = True) -> JobCheck:
    """Re-hash one job's outputs; check its recorded inputs, code, upstream manifests (not transitively)."""
    rel = _rel(root, manifest_path)
    try:
        m = json.loads(manifest_path.read_text())
        if not isinstance(m, dict):
            raise TypeError("not a JSON object")
    except (OSError, ValueError, TypeError) as e:
        job = JobCheck(manifest=rel, rule="?")
        job.rows.append(Row(rel, "?", MODIFIED, f"unreadable manifest: {e}"))
        return job
    job = JobCheck(manifest=rel, rule=m.get("rule", "?"))

    outputs = m.get("outputs") or {}
    if not outputs:
        job.rows.append(Row(rel, job.rule, MODIFIED, "manifest records no outputs"))
    for out, recorded in sorted(outputs.items()):
        now = hasher(out)
        if now is None:
            job.rows.append(Row(out, job.rule, MISSING, f"recorded in {rel}, not on disk"))
        elif now != recorded:
            job.rows.append(
                Row(
                    out, job.rule, MODIFIED, f"sha256 {_short(now)} now, {_short(recorded)} recorded in {rel}"
                )
            )
        else:
            job.rows.append(Row(out, job.rule, OK))

    def check(kind: str, recorded_hashes: dict) -> None:
        for path, recorded in sorted(recorded_hashes.items()):
            what = "upstream manifest" if Path(path).name == MANIFEST_NAME else kind
            now = hasher(path)
            if now is None:
                job.reasons.append(Reason(what, path, "missing"))
            elif now != recorded:
                job.reasons.append(
                    Reason(what, path, "changed", f" (sha256 {_short(now)} now, {_short(recorded)} recorded)")
                )

    upstream = m.get("upstream_manifests") or {}
    inputs = m.get("inputs") or {}
    # Manifests read as inputs (e.g. a model's manifest, or the report's provenance table) chain too.
    job.upstream = sorted(set(upstream) | {p for p in inputs if Path(p).name == MANIFEST_NAME})
    check("upstream manifest", upstream)
    check("input", {p: h for p, h in inputs.items() if p not in upstream})
    if check_code:
        check("code file", m.get("code_files") or {})
    return job


def audit(
    target: str | Path = "results", root: str | Path | None = None, check_code: bool = True
) -> AuditResult:
    """Check every manifest under `target` (and the chains they point at): the table and the culprits."""
    target = Path(target)
    root = Path(root) if root else find_root(target)
    hasher = _Hasher(root)
    jobs: dict[str, JobCheck] = {}
    queue = find_manifests(target)
    while queue:  # manifests under target, plus every upstream manifest their chains reach
        path = queue.pop(0)
        rel = _rel(root, path)
        if rel in jobs:
            continue
        job = jobs[rel] = check_job(path, root, hasher, check_code)
        for up in job.upstream:
            up_path = hasher.path(up)
            if _rel(root, up_path) not in jobs and up_path.is_file():
                queue.append(up_path)

    # Staleness travels down the chain: whatever was made from a stale artifact is stale too.
    stale = {rel for rel, j in jobs.items() if j.reasons}
    changed = True
    while changed:
        changed = False
        for rel, j in jobs.items():
            via = [u for u in j.upstream if _rel(root, hasher.path(u)) in stale]
            if via and rel not in stale:
                stale.add(rel)
                changed = True
            j.stale_via = via

    rows: list[Row] = []
    missing_upstream: set[str] = set()
    for rel in sorted(jobs):
        j = jobs[rel]
        for r in j.rows:
            if r.status == OK and rel in stale:
                r.status = STALE
                r.detail = "; ".join(
                    [str(x) for x in j.reasons[:2]] + [f"upstream {u} is stale" for u in j.stale_via[:1]]
                )
            rows.append(r)
        missing_upstream |= {u for u in j.upstream if hasher(u) is None}
    for up in sorted(missing_upstream):
        if up not in jobs:
            rows.append(Row(up, "?", MISSING, "upstream manifest named in a chain, not on disk"))

    broken = {r.artifact for r in rows if r.status in (MODIFIED, MISSING)}
    culprits = [f"{r.artifact} is {r.status}: {r.detail}" for r in rows if r.status in (MODIFIED, MISSING)]
    built_from: dict[tuple[str, str, str], list[str]] = {}
    for rel in sorted(jobs):
        for reason in jobs[rel].reasons:
            if reason.path not in broken:  # a modified/missing artifact above already explains this one
                built_from.setdefault((reason.path, reason.state, reason.kind), []).append(
                    str(Path(rel).parent)
                )
    for (path, state, kind), users in built_from.items():
        names = ", ".join(users[:4]) + (f" and {len(users) - 4} more" if len(users) > 4 else "")
        change = "is missing" if state == "missing" else "changed"
        culprits.append(f"{kind} {path} {change} after {len(users)} job(s) were built from it: {names}")
    return AuditResult(root=str(root), rows=rows, culprits=culprits, n_manifests=len(jobs))


def format_table(rows: list[Row], only_failures: bool = False) -> str:
    shown = [r for r in rows if r.status != OK or not only_failures]
    if not shown:
        return ""
    w_status = max(len("STATUS"), *(len(r.status) for r in shown))
    w_art = max(len("ARTIFACT"), *(len(r.artifact) for r in shown))
    w_rule = max(len("RULE"), *(len(r.rule) for r in shown))
    lines = [f"{'STATUS':<{w_status}}  {'ARTIFACT':<{w_art}}  {'RULE':<{w_rule}}  DETAIL"]
    for r in shown:
        lines.append(
            f"{r.status:<{w_status}}  {r.artifact:<{w_art}}  {r.rule:<{w_rule}}  {r.detail}".rstrip()
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m r1 audit",
        description="Re-hash the artifacts under RESULTS and check every manifest chain back to the sources.",
    )
    parser.add_argument(
        "results",
        nargs="?",
        default="results",
        help="a results folder, a subfolder of it or one manifest.json (default: results)",
    )
    parser.add_argument(
        "--root",
        help="the workdir the manifests' relative paths start from "
        "(default: the parent of the 'results' folder)",
    )
    parser.add_argument("--failures-only", action="store_true", help="list only artifacts that are not ok")
    parser.add_argument(
        "--no-code",
        action="store_true",
        help="do not flag artifacts whose r1 source files changed since they were built",
    )
    parser.add_argument("--json", action="store_true", help="print the table and culprits as JSON")
    args = parser.parse_args(argv)

    target = Path(args.results)
    if not target.exists():
        print(
            f"audit: {target} does not exist (run the pipeline first, or pass the results folder)",
            file=sys.stderr,
        )
        return 2
    if not find_manifests(target):
        print(f"audit: no {MANIFEST_NAME} under {target}: nothing to audit", file=sys.stderr)
        return 2
    result = audit(target, args.root, check_code=not args.no_code)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "root": result.root,
                    "counts": result.counts(),
                    "rows": [asdict(r) for r in result.rows],
                    "culprits": result.culprits,
                },
                indent=1,
            )
        )
        return 0 if result.ok else 1
    table = format_table(result.rows, only_failures=args.failures_only)
    if table:
        print(table)
    counts = ", ".join(f"{n} {s}" for s, n in result.counts().items() if n)
    if result.ok:
        print(
            f"\naudit ok: {len(result.rows)} artifacts of {result.n_manifests} jobs match their manifests; "
            "every manifest chain checks out back to the sources"
        )
        return 0
    print(f"\naudit FAILED: {counts}", file=sys.stderr)
    for c in result.culprits:
        print(f"  culprit: {c}", file=sys.stderr)
    return 1
