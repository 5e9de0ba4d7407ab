"""Grading workers with a hard per-item timeout, forked from a warm zygote process.

Why not multiprocessing: rewards run inside trainer processes that hold torch and OpenMP threads, so
forking the trainer can deadlock; and the spawn/forkserver start methods re-import the trainer's
`__main__` in every worker (a Snakemake `script:` is an unguarded script). Instead one small helper
process (the zygote) is started with `python -c` (a fresh interpreter, no torch), imports math-verify,
warms it, and forks a worker whenever asked. A new or replacement worker therefore costs a fork
(milliseconds) and is already warm.

Protocol: the parent holds a SOCK_SEQPACKET socket to the zygote; to get a worker it sends b"F" with one
end of a fresh socketpair attached (SCM_RIGHTS); the zygote forks, the child serves that socket, and the
zygote answers with the child's pid. Killing goes through the zygote (b"K" + pid), which only signals pids
it has not reaped yet, so a recycled pid is never hit. When the parent dies the zygote sees EOF, kills its
workers and exits; an idle worker exits on EOF as well.

Timeouts: each worker runs a soft SIGALRM timer (0.8 x timeout) per item, which interrupts Python-level
work (sympy) without losing the worker; the parent kills a worker whose current item has run for the
full timeout (a long C-level computation such as a huge integer power), scores that item as timed out
and forks a replacement. Items of a killed worker that had not started are re-queued. A worker acknowledges
each chunk it receives; one that dies before that (killed while idle: SIGKILL returns before its socket
closes, so it can still be fed) ran nothing, and its whole chunk is re-queued with no item charged.
"""

from __future__ import annotations

import atexit
import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection, wait
from pathlib import Path

_PKG_ROOT = str(Path(__file__).resolve().parents[2])
_MEM_LIMIT_MB = int(os.environ.get("R1_GRADER_MEM_MB", "4096"))
_START_TIMEOUT_S = 120.0
_MAX_CHUNK = 32

# Result of one task: (extracted, correct, timed_out)
Result = tuple  # (str | None, bool | None, bool)
TIMED_OUT: Result = (None, False, True)


# ---------------------------------------------------------------- worker side (runs in forked children)
class _SoftTimeout(BaseException):
    pass


_active = False


def _on_alarm(signum, frame):
    if _active:
        raise _SoftTimeout()


def _clean(text):
    if not isinstance(text, str):
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def run_task(task: tuple) -> Result:
    """Run one task in this process (no timeout): ("grade", text, gold, mode, chain) or ("eq", a, b, mode)."""
    from r1.grading.equivalence import is_equivalent
    from r1.grading.extract import extract_answer

    kind = task[0]
    if kind == "grade":
        _, text, gold, mode, chain = task
        extracted = extract_answer(_clean(text), chain) if isinstance(text, str) else None
        try:
            correct = is_equivalent(extracted, _clean(gold), mode)
        except (Exception, RecursionError, MemoryError):  # noqa: BLE001 - untrusted input: any failure scores 0
            correct = False if gold else None
        return extracted, correct, False
    if kind == "eq":
        _, a, b, mode = task
        try:
            return None, is_equivalent(_clean(a), _clean(b), mode), False
        except (Exception, RecursionError, MemoryError):  # noqa: BLE001 - untrusted input: any failure scores 0
            return None, False, False
    # test hooks (task kinds that no model output can produce): a worker dying mid-item, and a C-level hang
    # that the soft SIGALRM timer cannot interrupt, so only the parent's hard kill ends it
    if kind == "_crash":
        os._exit(3)
    if kind == "_hang":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
    raise ValueError(f"unknown task kind {kind!r}")


def _run_one(task: tuple, soft_s: float) -> Result:
    global _active
    try:
        try:
            _active = True
            signal.setitimer(signal.ITIMER_REAL, soft_s)
            return run_task(task)
        finally:
            _active = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _SoftTimeout:
        return TIMED_OUT
    except (Exception, RecursionError, MemoryError):  # noqa: BLE001 - untrusted input: any failure scores 0
        return None, False, False


def _worker_main(fd: int) -> None:
    try:
        import resource

        limit = _MEM_LIMIT_MB * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError, ImportError):
        pass
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    conn = Connection(fd)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        soft_s, items = msg
        conn.send(None)  # received: an EOF after this means the worker died holding the chunk (_run_locked)
        for idx, task in items:
            conn.send((idx, _run_one(task, soft_s)))


# One of each common answer shape: antlr (under latex2sympy) builds its prediction DFA lazily, so the first
# parse of a new shape costs 0.1-0.3 s. Parsed once in the zygote (~1.5 s), every forked worker starts warm.
WARM_CORPUS = (
    ("\\frac{1}{2}", "0.5"),
    ("x^2+1", "1+x^2"),
    ("(1,2)", "(1, 2)"),
    ("50\\%", "0.5"),
    ("(-\\infty, 0]", "x \\in [2, 5)"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "y = 2x + 3"),
    ("\\text{east}", "3R^2"),
    ("18+2\\pi", "\\cot x"),
    ("40_9", "\\{1, 2\\}"),
    ("-2 + 7i", "\\sin 30^\\circ"),
    ("\\frac{\\sqrt{3}}{3}", "(a+5)(b+2)"),
    ("\\log_2 8", "|x|"),
    ("3!", "\\dbinom{5}{2}"),
    ("p \\le 3", "2\\sqrt{5}"),
)


def _warm() -> None:
    from r1.grading.equivalence import is_equivalent

    for pred, gold in WARM_CORPUS:
        for mode in ("strict", "lenient"):
            is_equivalent(pred, gold, mode)
            is_equivalent(gold, pred, mode)
    run_task(("grade", "so \\boxed{3}", "3", "lenient", ("boxed",)))


def _zygote_main(fd: int) -> None:
    """Entry point of the zygote process (`python -c`)."""
    import gc

    sock = socket.socket(fileno=fd)
    _warm()
    gc.collect()
    gc.freeze()
    children: set[int] = set()

    def reap():
        while children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                return
            if pid == 0:
                return
            children.discard(pid)

    sock.sendall(b"R")
    try:
        while True:
            try:
                msg, fds, _, _ = socket.recv_fds(sock, 64, 1)
            except (OSError, InterruptedError):
                break
            reap()
            if not msg:
                break
            if msg[:1] == b"F" and fds:
                pid = os.fork()
                if pid == 0:
                    try:
                        sock.close()
                        _worker_main(fds[0])
                    finally:
                        os._exit(0)
                os.close(fds[0])
                children.add(pid)
                sock.sendall(b"P" + pid.to_bytes(8, "little"))
            elif msg[:1] == b"K":
                pid = int.from_bytes(msg[1:9], "little")
                if pid in children:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            else:
                for fd_ in fds:
                    os.close(fd_)
    finally:
        reap()
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os._exit(0)


# ---------------------------------------------------------------- parent side
class _Worker:
    __slots__ = ("conn", "inflight", "pid", "started", "t0")

    def __init__(self, pid: int, conn: Connection):
        self.pid, self.conn = pid, conn
        self.inflight: collections.deque[int] = collections.deque()
        self.t0 = 0.0
        self.started = False  # the worker acknowledged its current chunk


class GraderPool:
    """A lazily started, reused set of grading workers. Thread-safe; one batch runs at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner_pid = os.getpid()
        self._zygote: subprocess.Popen | None = None
        self._zsock: socket.socket | None = None
        self._workers: list[_Worker] = []
        self.restarts = 0
        self.last_item_seconds: list[float] = []  # per-item wall time of the last batch (for benchmarks)

    # -- zygote and workers
    def _check_fork(self) -> None:
        if os.getpid() != self._owner_pid:
            self._after_fork_in_child()

    def _after_fork_in_child(self) -> None:
        """A forked copy of the owner: the zygote and workers belong to the parent. Drop our copies of
        their sockets (so the zygote still sees EOF when the parent dies) and start afresh if needed."""
        self._lock = threading.Lock()
        for w in self._workers:
            w.conn.close()
        if self._zsock is not None:
            self._zsock.close()
        self._owner_pid = os.getpid()
        self._zygote, self._zsock, self._workers = None, None, []

    def _start_zygote(self) -> None:
        self._stop_zygote_process()  # workers of an old zygote keep serving; they exit on EOF
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ)
        env["PYTHONPATH"] = _PKG_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.pop("OMP_NUM_THREADS", None)
        code = f"import r1.grading.pool as p; p._zygote_main({child_sock.fileno()})"
        self._zygote = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=[child_sock.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        child_sock.close()
        parent_sock.settimeout(_START_TIMEOUT_S)
        try:
            ready = parent_sock.recv(16)
        except TimeoutError:
            ready = b""
        if ready != b"R":
            parent_sock.close()
            self._zygote.kill()
            self._zygote.wait()
            self._zygote = None
            raise RuntimeError("r1.grading: the grading zygote process failed to start (see stderr)")
        parent_sock.settimeout(30.0)
        self._zsock = parent_sock

    def _stop_zygote(self) -> None:
        for w in self._workers:
            w.conn.close()
        self._workers = []
        self._stop_zygote_process()

    def _stop_zygote_process(self) -> None:
        if self._zsock is not None:
            self._zsock.close()
            self._zsock = None
        if self._zygote is not None:
            try:
                self._zygote.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._zygote.kill()
                self._zygote.wait()
            self._zygote = None

    def _fork_worker(self) -> _Worker:
        for _ in range(2):
            if self._zsock is None or self._zygote is None or self._zygote.poll() is not None:
                self._start_zygote()
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                socket.send_fds(self._zsock, [b"F"], [theirs.fileno()])
                reply = self._zsock.recv(16)
            except OSError:
                reply = b""
            finally:
                theirs.close()
            if reply[:1] == b"P":
                return _Worker(int.from_bytes(reply[1:9], "little"), Connection(mine.detach()))
            mine.close()
            self._zsock.close()
            self._zsock = None
        raise RuntimeError("r1.grading: could not fork a grading worker")

    def _kill(self, w: _Worker) -> None:
        try:
            if self._zsock is not None:
                self._zsock.send(b"K" + w.pid.to_bytes(8, "little"))
        except OSError:
            pass
        w.conn.close()
        self.restarts += 1

    def warm(self, workers: int | None = None) -> None:
        """Start the zygote and `workers` workers now (otherwise the first batch does it)."""
        with self._lock:
            self._check_fork()
            self._ensure(workers or default_workers())

    def _ensure(self, n: int) -> None:
        while len(self._workers) < n:
            self._workers.append(self._fork_worker())

    def close(self) -> None:
        with self._lock:
            if os.getpid() == self._owner_pid:
                self._stop_zygote()

    # -- running tasks
    def run(self, tasks: list[tuple], timeout_s: float, workers: int | None = None) -> list[Result]:
        """Run tasks with a hard per-item wall-clock timeout; results in task order."""
        if not tasks:
            return []
        timeout_s = float(timeout_s)
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        with self._lock:
            self._check_fork()
            n_workers = max(1, min(workers or default_workers(), len(tasks)))
            self._ensure(n_workers)
            return self._run_locked(tasks, timeout_s, n_workers)

    def _run_locked(self, tasks: list[tuple], timeout_s: float, n_workers: int) -> list[Result]:
        results: list[Result | None] = [None] * len(tasks)
        seconds = [0.0] * len(tasks)
        queue = collections.deque(range(len(tasks)))
        soft_s = max(0.01, 0.8 * timeout_s)
        active = self._workers[:n_workers]
        busy: dict[Connection, _Worker] = {}
        fruitless = [0]  # worker replacements since the last result: a bound against endless respawning

        def feed(w: _Worker) -> None:
            if w.conn.poll():  # an idle worker has nothing to say: it died between batches (EOF)
                replace(w, crashed_current=False)
                return
            size = max(1, min(_MAX_CHUNK, len(queue) // (2 * n_workers) or 1))
            items = [queue.popleft() for _ in range(min(size, len(queue)))]
            w.inflight.extend(items)
            w.t0 = time.monotonic()
            w.started = False
            try:
                w.conn.send((soft_s, [(i, tasks[i]) for i in items]))
                busy[w.conn] = w
            except OSError:
                replace(w, crashed_current=False)

        def replace(w: _Worker, crashed_current: bool) -> None:
            busy.pop(w.conn, None)
            fruitless[0] += 1
            if crashed_current and w.inflight:
                idx = w.inflight.popleft()
                results[idx] = TIMED_OUT
                seconds[idx] = time.monotonic() - w.t0
                fruitless[0] = 0  # an item was charged: that is progress
            queue.extendleft(reversed(w.inflight))
            w.inflight.clear()
            self._kill(w)
            if fruitless[0] > 20 + 4 * n_workers:
                self._workers.remove(w)
                raise RuntimeError("r1.grading: grading workers keep dying without producing results")
            fresh = self._fork_worker()
            self._workers[self._workers.index(w)] = fresh
            active[active.index(w)] = fresh

        for w in active:
            if queue:
                feed(w)
        while busy or queue:
            if not busy:
                for w in active:
                    if queue and w.conn not in busy:
                        feed(w)
                continue
            now = time.monotonic()
            deadline = min(w.t0 for w in busy.values()) + timeout_s
            for conn in wait(list(busy), timeout=max(0.0, deadline - now)):
                w = busy[conn]
                try:
                    while conn.poll():
                        msg = conn.recv()
                        if msg is None:  # the chunk's acknowledgement
                            w.started = True
                            continue
                        idx, res = msg
                        results[idx] = res
                        seconds[idx] = time.monotonic() - w.t0
                        if w.inflight and w.inflight[0] == idx:
                            w.inflight.popleft()
                        else:
                            w.inflight.remove(idx)
                        w.t0 = time.monotonic()
                        fruitless[0] = 0
                except (EOFError, OSError):
                    # a worker that died before acknowledging its chunk (killed while idle, its death not
                    # yet visible when it was fed) never ran an item: re-queue them all, charge none
                    replace(w, crashed_current=w.started)
                    continue
                if not w.inflight:
                    busy.pop(conn, None)
            now = time.monotonic()
            for w in list(busy.values()):
                if now - w.t0 > timeout_s:
                    replace(w, crashed_current=True)
            for w in active:
                if queue and w.conn not in busy:
                    feed(w)
        self.last_item_seconds = seconds
        return results  # type: ignore[return-value]


def default_workers() -> int:
    """Grader processes: $R1_GRADER_WORKERS, else one per usable core."""
    if os.environ.get("R1_GRADER_WORKERS"):
        return max(1, int(os.environ["R1_GRADER_WORKERS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


POOL = GraderPool()
atexit.register(POOL.close)
os.register_at_fork(after_in_child=POOL._after_fork_in_child)
