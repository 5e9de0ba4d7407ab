"""Run untrusted Python programs against their tests in the sandbox (see r1/sandbox/server.py for how).

    with Sandbox(Limits(wall_time_s=5), workers=2) as box:
        results = box.run([Job(program="def f(x): return x + 1", tests=["assert f(1) == 2"])])
    results[0].status, results[0].passed   # "ok", True

The server process is started once per Sandbox (a fresh interpreter with a scrubbed environment, standard
library only) and forks one sandbox per program; `workers` programs run at a time. A program whose server
dies, or that outlives every limit, comes back as status "error" / "timeout": `run` always returns one
result per job and never raises because of what a program did.
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from r1.sandbox import server as _server  # imported, not only run by path: rules depend on its code

log = logging.getLogger(__name__)

SERVER = Path(_server.__file__)
STATUSES = ("ok", "failed", "timeout", "error", "killed")
# What the program sees: no variable of the pipeline's environment reaches the server or the program.
PROGRAM_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}


class SandboxUnavailable(RuntimeError):
    """Isolation was required but this machine cannot provide it (no namespaces)."""


@dataclass(frozen=True)
class Limits:
    """Per-program limits. Memory, CPU time, file size, processes and open files are rlimits of the
    program's processes (memory is address space per process; all processes together are bounded by
    `memory_mb` x `max_processes`); wall time is enforced by the sandbox's init process and, as a backstop,
    by the server (SIGKILL of the whole PID namespace `grace_s` later)."""

    wall_time_s: float = 10.0
    cpu_time_s: float = 10.0
    test_timeout_s: float = 0.0  # per test, 0 = only the wall time
    memory_mb: int = 1024
    file_size_mb: int = 16
    max_processes: int = 32
    max_open_files: int = 128
    max_output_bytes: int = 1 << 20  # stdout + stderr; more kills the program (status "killed")
    keep_output_bytes: int = 4096  # per stream, kept in the result
    tmpfs_mb: int = 64  # the writable /tmp (the working directory)
    tmpfs_inodes: int = 4096

    def __post_init__(self):
        for name, value in asdict(self).items():
            if value < 0 or (name != "test_timeout_s" and value == 0):
                raise ValueError(f"sandbox limit {name} must be > 0, got {value}")

    @classmethod
    def from_config(cls, cfg: dict | None) -> Limits:
        cfg = dict(cfg or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"sandbox: unknown key(s) {unknown}; known: {sorted(known | set(SETTINGS))}")
        return cls(**cfg)


@dataclass
class Job:
    program: str
    tests: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    status: str  # ok | failed | timeout | error | killed
    reason: str | None
    n_passed: int
    n_tests: int
    seconds: float
    cpu_seconds: float | None = None
    tests: list[dict] = field(default_factory=list)  # per test: {"passed", "error"}
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return {"passed": self.passed, **asdict(self)}

    @classmethod
    def from_record(cls, rec: dict, n_tests: int) -> RunResult:
        status = rec.get("status")
        if status not in STATUSES:
            status, rec = "error", {**rec, "reason": f"bad sandbox record: {rec!r}"[:500]}
        return cls(
            status=status,
            reason=rec.get("reason"),
            n_passed=int(rec.get("n_passed", 0)),
            n_tests=int(rec.get("n_tests", n_tests)),
            seconds=float(rec.get("seconds", 0.0)),
            cpu_seconds=rec.get("cpu_seconds"),
            tests=list(rec.get("tests") or []),
            stdout=rec.get("stdout", ""),
            stderr=rec.get("stderr", ""),
            exit_code=rec.get("exit_code"),
            signal=rec.get("signal"),
        )


def _error(reason: str, n_tests: int) -> RunResult:
    return RunResult(status="error", reason=reason, n_passed=0, n_tests=n_tests, seconds=0.0)


class Sandbox:
    """A running sandbox server. Thread-safe (one `run` at a time); restarts its server if it dies."""

    def __init__(
        self,
        limits: Limits | None = None,
        workers: int | None = None,
        require_isolation: bool = True,
        grace_s: float = 2.0,
    ):
        self.limits = limits or Limits()
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.require_isolation = require_isolation
        self.grace_s = grace_s
        self.isolation: dict = {}
        self._proc: subprocess.Popen | None = None
        self._buf = bytearray()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ server lifecycle
    def start(self) -> Sandbox:
        if self._proc is not None and self._proc.poll() is None:
            return self
        config = {"default_limits": asdict(self.limits), "env": PROGRAM_ENV, "grace_s": self.grace_s}
        self._buf = bytearray()
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SERVER), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env={"PATH": PROGRAM_ENV["PATH"], "LANG": "C.UTF-8"},
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        hello = self._read_line(time.monotonic() + 60 + self.limits.wall_time_s)
        if not hello or not hello.get("ready"):
            self.close()
            raise RuntimeError(f"sandbox server did not start (got {hello!r})")
        self.isolation = hello["isolation"]
        if self.isolation["mode"] == "none":
            msg = (
                "sandbox: this machine cannot isolate programs (namespaces unavailable: "
                f"{self.isolation.get('tried')}); without them a program runs with rlimits only, "
                "the network is NOT blocked and it can write wherever its uid may"
            )
            if self.require_isolation:
                self.close()
                raise SandboxUnavailable(msg + "; set require_isolation false to run anyway")
            log.warning(msg)
        return self

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=self.limits.wall_time_s + self.grace_s + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def _read_line(self, deadline: float) -> dict | None:
        """One JSON line from the server, or None on EOF / when the deadline passes."""
        fd = self._proc.stdout.fileno()
        while True:
            if b"\n" in self._buf:
                line, _, rest = bytes(self._buf).partition(b"\n")
                self._buf = bytearray(rest)
                try:
                    return json.loads(line)
                except ValueError:
                    log.warning("sandbox: unreadable server line %r", line[:200])
                    continue
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], timeout)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return None
                self._buf += chunk

    # ------------------------------------------------------------ running programs
    def run(self, jobs: list[Job], limits: Limits | None = None) -> list[RunResult]:
        """Run every job (at most `workers` at a time); one result per job, in order."""
        if not jobs:
            return []
        limits = limits or self.limits
        with self._lock:
            results: list[RunResult | None] = [None] * len(jobs)
            pending = list(range(len(jobs)))
            in_flight: set[int] = set()
            stall = limits.wall_time_s + self.grace_s + 30
            while pending or in_flight:
                if self._proc is None or self._proc.poll() is not None:
                    for i in in_flight:
                        results[i] = _error("the sandbox server died", len(jobs[i].tests))
                    in_flight.clear()
                    self._proc = None
                    self.start()
                while pending and len(in_flight) < self.workers:
                    i = pending.pop(0)
                    req = {"id": i, "program": jobs[i].program, "tests": list(jobs[i].tests)}
                    req["limits"] = asdict(limits)
                    try:
                        self._proc.stdin.write((json.dumps(req) + "\n").encode())
                        self._proc.stdin.flush()
                    except (BrokenPipeError, OSError):
                        pending.insert(0, i)
                        break
                    in_flight.add(i)
                if not in_flight:
                    continue
                rec = self._read_line(time.monotonic() + stall)
                if rec is None:  # server dead or stuck: kill it; the loop restarts it
                    if self._proc is not None and self._proc.poll() is None:
                        log.error("sandbox: server silent for %.0f s; restarting it", stall)
                        self._proc.kill()
                    self._proc.wait()
                    continue
                i = rec.get("id")
                if i in in_flight:
                    in_flight.discard(i)
                    results[i] = RunResult.from_record(rec, len(jobs[i].tests))
            return [
                r if r is not None else _error("not run", len(j.tests))
                for r, j in zip(results, jobs, strict=True)
            ]


SETTINGS = ("workers", "require_isolation")


def sandbox_settings(cfg: dict | None) -> tuple[Limits, int | None, bool]:
    """(limits, workers, require_isolation) from config `sandbox` (Limits fields plus the two settings)."""
    cfg = dict(cfg or {})
    workers = cfg.pop("workers", None)
    require = bool(cfg.pop("require_isolation", True))
    return Limits.from_config(cfg), workers, require


_SHARED: dict[tuple, Sandbox] = {}


def shared_sandbox(
    limits: Limits | None = None, workers: int | None = None, require_isolation: bool = True
) -> Sandbox:
    """One started Sandbox per (limits, workers, require_isolation) in this process (rewards, filters)."""
    key = (limits or Limits(), workers, require_isolation)
    box = _SHARED.get(key)
    if box is None:
        box = _SHARED[key] = Sandbox(limits, workers, require_isolation)
    return box.start()
