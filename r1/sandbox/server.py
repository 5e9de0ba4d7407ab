"""The sandbox's fork server: runs untrusted Python programs against their tests, each in its own namespaces.

Standard library only, and never imported by r1: the client (r1.sandbox.client) starts it as
`python -I -S server.py CONFIG_JSON` with a scrubbed environment, so the server holds no secret of the
pipeline in its memory, and each run is a cheap fork of it instead of a new interpreter.

One run, three processes (a fork of the server, then two more forks):

    R  setsid; as root, drop to `nobody`; unshare(user, mount, net, pid, ipc, uts); map one uid (1000)
    P  pid 1 of the new PID namespace, dies with R (PDEATHSIG): builds a minimal read-only root (the Python
       install and /usr, /etc bound read-only, a private /proc, /dev with null/zero/random/urandom only,
       a size-capped tmpfs on /tmp as the only writable place), pivots into it, drops every capability,
       then supervises H: wall-time limit, output caps, per-test results over a pipe.
    H  the program: rlimits (CPU, address space, file size, processes, open files, no core), stdin from
       /dev/null, stdout/stderr into pipes to P, runs the program and then each test in its globals.

When P exits, the kernel kills everything left in the PID namespace (fork bombs, daemons, setsid'd
children); the server SIGKILLs R at the hard deadline, which takes P (and the namespace) with it.

Protocol (JSON lines): the server prints `{"ready": true, "isolation": {...}}`, then reads requests
`{"id", "program", "tests", "limits"}` on stdin and prints one result per request, in completion order.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import resource
import select
import signal
import sys
import time

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 28, 38
SECBITS_LOCKED_NOROOT = 0x3 | 0xC | 0x30  # NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED (each with its lock)
AT_RECURSIVE, MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x8000, 0x1, 0x2, 0x4
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
SYS_MOUNT_SETATTR = 442  # same number on every architecture (new syscalls are unified)
NOBODY = 65534
INSIDE_ID = 1000  # the program's uid and gid inside its user namespace
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


class SetupError(RuntimeError):
    pass


def _check(ret: int, what: str) -> int:
    if ret < 0:
        e = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(e)} (errno {e})")
    return ret


def _b(s):
    return None if s is None else os.fsencode(s)


def _mount(src, target, fstype, flags, data=None) -> None:
    _check(_libc.mount(_b(src), _b(target), _b(fstype), flags, _b(data)), f"mount {src} on {target}")


def _prctl(option: int, arg: int = 0) -> int:
    return _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _json_line(fd: int, obj: dict) -> None:
    data = (json.dumps(obj) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


# ---------------------------------------------------------------- P: the filesystem inside the sandbox
def _bind_sources(prefixes: list[str]) -> list[str]:
    """Directories the program may read (read-only): /usr, /etc and the Python installation."""
    out: list[str] = []
    for path in ["/usr", "/etc"] + [p for p in prefixes if p]:
        path = os.path.realpath(path)
        if os.path.isdir(path) and not any(path == s or path.startswith(s + "/") for s in out):
            out.append(path)
    return out


def _readonly(target: str, report: dict) -> None:
    """Make a bind mount and everything under it read-only (mount_setattr), else the top mount only."""

    class MountAttr(ctypes.Structure):
        _fields_ = [
            ("set", ctypes.c_uint64),
            ("clr", ctypes.c_uint64),
            ("prop", ctypes.c_uint64),
            ("fd", ctypes.c_uint64),
        ]

    attr = MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    ret = _libc.syscall(
        SYS_MOUNT_SETATTR, -100, _b(target), AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr)
    )
    if ret < 0:
        report["submounts_read_only"] = False
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _build_root(binds: list[str], limits: dict, report: dict) -> None:
    """Pivot into a fresh root: read-only binds of the Python install, /usr and /etc; tmpfs /tmp (rw)."""
    if SYS_PIVOT_ROOT is None:
        raise SetupError(f"pivot_root: unknown syscall number on {platform.machine()}")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = "/tmp"  # any existing directory: the tmpfs mounted here exists only in this mount namespace
    _mount("r1sandbox", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for path in binds:
        os.makedirs(root + path, exist_ok=True)
        _mount(path, root + path, None, MS_BIND | MS_REC)
        _readonly(root + path, report)
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink("/" + link):
            os.symlink(os.readlink("/" + link), f"{root}/{link}")
        elif os.path.isdir("/" + link) and not os.path.exists(f"{root}/{link}"):
            os.makedirs(f"{root}/{link}")
            _mount("/" + link, f"{root}/{link}", None, MS_BIND | MS_REC)
            _readonly(f"{root}/{link}", report)
    os.makedirs(f"{root}/dev")
    for dev in DEVICES:
        if os.path.exists(f"/dev/{dev}"):
            open(f"{root}/dev/{dev}", "w").close()
            _mount(f"/dev/{dev}", f"{root}/dev/{dev}", None, MS_BIND)
    os.makedirs(f"{root}/proc")
    try:
        _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        report["proc"] = "private /proc of the new PID namespace"
    except SetupError as e:  # e.g. a container's /proc with masked entries: leave /proc empty
        report["proc"] = f"empty /proc ({e})"
    os.makedirs(f"{root}/tmp")
    size = f"size={int(limits['tmpfs_mb'])}m,nr_inodes={int(limits['tmpfs_inodes'])},mode=0700"
    _mount("r1work", f"{root}/tmp", "tmpfs", MS_NOSUID | MS_NODEV, size)
    os.chown(f"{root}/tmp", os.geteuid(), os.getegid())
    os.makedirs(f"{root}/.old")
    os.chdir(root)
    _check(_libc.syscall(SYS_PIVOT_ROOT, b".", b".old"), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir("/tmp")


def _drop_capabilities() -> None:
    """No capability left, none to regain by exec (empty bounding set, locked securebits, no_new_privs)."""
    cap = 0
    while _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) == 0:
        cap += 1
    _prctl(PR_SET_SECUREBITS, SECBITS_LOCKED_NOROOT)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable x 2 words: all zero
    _check(_libc.capset(header, data), "capset")
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    _prctl(PR_SET_DUMPABLE, 1)  # after a uid change /proc/self is root's; uid_map must be writable


# ---------------------------------------------------------------- H: the program
class TestTimeout(BaseException):
    pass


def _harness(program: str, tests: list[str], limits: dict, result_fd: int) -> None:
    """Runs in H after the limits are set: the program, then each test in the program's globals."""
    import builtins

    def emit(obj: dict) -> None:
        _json_line(result_fd, obj)

    def alarm(signum, frame):
        raise TestTimeout()

    signal.signal(signal.SIGALRM, alarm)
    g = {"__name__": "__sandbox__", "__builtins__": builtins}
    try:
        code = compile(program, "<program>", "exec")
        exec(code, g)
    except BaseException as e:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are the program's too
        emit({"event": "program", "ok": False, "error": f"{type(e).__name__}: {str(e)[:300]}"})
        return
    emit({"event": "program", "ok": True})
    per_test = float(limits.get("test_timeout_s") or 0)
    for i, test in enumerate(tests):
        err = None
        try:
            if per_test:
                signal.setitimer(signal.ITIMER_REAL, per_test)
            exec(compile(test, f"<test {i}>", "exec"), g)
        except TestTimeout:
            err = f"test timeout ({per_test:g} s)"
        except BaseException as e:  # noqa: BLE001
            err = f"{type(e).__name__}: {str(e)[:300]}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"event": "test", "i": i, "passed": err is None, "error": err})
    emit({"event": "done"})


def _child_limits(limits: dict) -> None:
    mb = 1024 * 1024
    cpu = int(max(1, round(float(limits["cpu_time_s"]))))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (int(limits["memory_mb"]) * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limits["file_size_mb"]) * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (int(limits["max_processes"]),) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(limits["max_open_files"]),) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run_h(program, tests, limits, env, out_w, err_w, res_w) -> None:
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(res_w, 3)
        os.closerange(4, 1 << 16)
        for s in range(1, signal.NSIG):
            if s not in (signal.SIGKILL, signal.SIGSTOP):
                try:
                    signal.signal(s, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.environ.clear()
        os.environ.update(env)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False, buffering=1)
        sys.stderr = open(2, "w", closefd=False, buffering=1)
        sys.argv = ["program"]
        _child_limits(limits)
        _harness(program, tests, limits, 3)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(0)


def _supervise(h_pid: int, fds: dict, limits: dict, started: float) -> dict:
    """P's loop: collect output (capped) and per-test events until H exits or a limit is hit."""
    pidfd = os.pidfd_open(h_pid)
    cap, keep = int(limits["max_output_bytes"]), int(limits["keep_output_bytes"])
    bufs = {name: bytearray() for name in fds}
    totals = dict.fromkeys(fds, 0)
    deadline = started + float(limits["wall_time_s"])
    reason = None
    open_fds = dict(fds)
    status = None
    while status is None:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            reason = "wall_time"
            break
        ready, _, _ = select.select(list(open_fds.values()) + [pidfd], [], [], timeout)
        for name, fd in list(open_fds.items()):
            if fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    del open_fds[name]
                    continue
                totals[name] += len(chunk)
                room = (1 << 20) if name == "events" else keep
                bufs[name] += chunk[: max(0, room - len(bufs[name]))]
        if totals["stdout"] + totals["stderr"] > cap:
            reason = "output_limit"
            break
        if pidfd in ready:
            status = os.wait4(h_pid, 0)
    if status is None:
        os.kill(h_pid, signal.SIGKILL)
        status = os.wait4(h_pid, 0)
    for name, fd in open_fds.items():  # what is left in the pipes; a grandchild may still hold them open
        os.set_blocking(fd, False)
        try:
            while len(bufs[name]) < ((1 << 20) if name == "events" else keep) and (
                chunk := os.read(fd, 1 << 16)
            ):
                bufs[name] += chunk
        except BlockingIOError:
            pass
    _, wait_status, usage = status
    events = []
    for line in bufs["events"].decode(errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return _verdict(events, wait_status, usage, reason, bufs, totals, limits)


def _verdict(events, wait_status, usage, reason, bufs, totals, limits) -> dict:
    n_tests = int(limits["n_tests"])
    tests = [None] * n_tests
    program = next((e for e in events if e.get("event") == "program"), None)
    for e in events:
        if e.get("event") == "test" and isinstance(e.get("i"), int) and 0 <= e["i"] < n_tests:
            tests[e["i"]] = {"passed": bool(e.get("passed")), "error": e.get("error")}
    done = any(e.get("event") == "done" for e in events)
    sig = os.WTERMSIG(wait_status) if os.WIFSIGNALED(wait_status) else None
    code = os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None
    cpu = usage.ru_utime + usage.ru_stime
    if reason == "wall_time":
        status = "timeout"
    elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= float(limits["cpu_time_s"]) - 0.05):
        status, reason = "timeout", "cpu_time"
    elif reason == "output_limit":
        status = "killed"
    elif sig is not None:
        status, reason = "killed", f"signal {signal.Signals(sig).name}"
    elif program is None:
        status, reason = "error", f"the program exited before it finished (exit code {code})"
    elif not program.get("ok"):
        status, reason = "error", program.get("error")
    elif not done:
        status, reason = "error", f"the program exited during the tests (exit code {code})"
    elif all(t and t["passed"] for t in tests):
        status = "ok"
    else:
        status = "failed"
        reason = next((t["error"] for t in tests if t and not t["passed"]), None)
    return {
        "status": status,
        "reason": reason,
        "tests": [t or {"passed": False, "error": "not run"} for t in tests],
        "n_passed": sum(1 for t in tests if t and t["passed"]),
        "n_tests": n_tests,
        "exit_code": code,
        "signal": sig,
        "cpu_seconds": round(cpu, 4),
        "stdout": bufs["stdout"].decode(errors="replace"),
        "stderr": bufs["stderr"].decode(errors="replace"),
        "stdout_bytes": totals["stdout"],
        "stderr_bytes": totals["stderr"],
    }


def _own_user_namespace(report: dict) -> None:
    """Mode root, after dropping to nobody: a user namespace of its own, so that the process limit counts this
    sandbox's processes only (RLIMIT_NPROC is per user and user namespace); else the limit is shared by
    every sandbox running as nobody at the same time."""
    uid, gid = os.geteuid(), os.getegid()
    if _libc.unshare(CLONE_NEWUSER) != 0:
        report["process_limit"] = (
            f"shared by all sandboxes running as nobody ({os.strerror(ctypes.get_errno())})"
        )
        return
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{INSIDE_ID} {uid} 1")
    _write("/proc/self/gid_map", f"{INSIDE_ID} {gid} 1")
    report["process_limit"] = "per sandbox (own user namespace)"


def _run_p(req: dict, mode: str, prefixes: list[str], report: dict) -> dict:
    """P: pid 1 of the sandbox. Returns the run's record (or raises SetupError)."""
    limits = {**req["limits"], "n_tests": len(req["tests"])}
    started = time.monotonic()
    workdir = None
    if mode == "none":
        import tempfile

        if os.geteuid() == 0:
            _drop_to_nobody()
        workdir = tempfile.mkdtemp(prefix="r1sandbox-")
        os.chdir(workdir)
        report["filesystem"] = f"host filesystem, own uid's permissions; cwd {workdir} (removed after)"
    else:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        _build_root(_bind_sources(prefixes), limits, report)
        if mode == "root":  # namespaces made with root's privileges: now leave root for good
            os.chown("/tmp", NOBODY, NOBODY)
            _drop_to_nobody()
            _own_user_namespace(report)
        else:
            report["process_limit"] = "per sandbox (own user namespace)"
        _drop_capabilities()
        _prctl(PR_SET_DUMPABLE, 0)  # H (same uid) cannot ptrace P
    pipes = {name: os.pipe() for name in ("stdout", "stderr", "events")}
    h_pid = os.fork()
    if h_pid == 0:
        if mode != "none":
            _prctl(PR_SET_DUMPABLE, 1)
        _run_h(
            req["program"],
            req["tests"],
            limits,
            req["env"],
            pipes["stdout"][1],
            pipes["stderr"][1],
            pipes["events"][1],
        )
    for _, w in pipes.values():
        os.close(w)
    try:
        return _supervise(h_pid, {k: r for k, (r, _) in pipes.items()}, limits, started)
    finally:
        if workdir:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


def _run_r(req: dict, mode: str, prefixes: list[str], result_w: int) -> None:
    """R, forked from the server: new namespaces, then P. Never returns."""
    code = 0
    try:
        os.setsid()
        os.closerange(0, result_w)
        os.closerange(result_w + 1, 1 << 16)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            if fd != null:
                os.dup2(null, fd)
        flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
        if mode == "userns":
            if os.geteuid() == 0:  # root without CAP_SYS_ADMIN (e.g. a container): never run programs as root
                _drop_to_nobody()
            uid, gid = os.geteuid(), os.getegid()
            _check(_libc.unshare(CLONE_NEWUSER | flags), "unshare(user, mount, net, pid, ipc, uts)")
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{INSIDE_ID} {uid} 1")
            _write("/proc/self/gid_map", f"{INSIDE_ID} {gid} 1")
        elif mode == "root":
            _check(_libc.unshare(flags), "unshare(mount, net, pid, ipc, uts)")
        p_pid = os.fork()
        if p_pid == 0:
            report: dict = {}
            try:
                record = _run_p(req, mode, prefixes, report)
                record["setup"] = report
            except BaseException as e:  # noqa: BLE001 - a broken setup is reported, never raised
                record = {"status": "error", "reason": f"sandbox setup failed: {e}", "setup_error": str(e)}
            _json_line(result_w, record)
            os._exit(0)
        os.close(result_w)
        _, st = os.waitpid(p_pid, 0)
        code = os.waitstatus_to_exitcode(st) & 0xFF
    except BaseException as e:  # noqa: BLE001
        try:
            _json_line(
                result_w, {"status": "error", "reason": f"sandbox setup failed: {e}", "setup_error": str(e)}
            )
        except OSError:
            pass
        code = 3
    finally:
        os._exit(code)


# ---------------------------------------------------------------- the server loop
class Server:
    def __init__(self, config: dict):
        self.config = config
        self.prefixes = config.get("prefixes") or [sys.prefix, sys.base_prefix, sys.exec_prefix]
        self.mode = "none"
        self.running: dict[int, dict] = {}  # pidfd -> run

    def start(self, req: dict) -> None:
        r_read, r_write = os.pipe()
        os.set_inheritable(r_write, True)
        pid = os.fork()
        if pid == 0:
            _run_r(req, self.mode, self.prefixes, r_write)
        os.close(r_write)
        hard = float(req["limits"]["wall_time_s"]) + float(self.config.get("grace_s", 2.0))
        self.running[os.pidfd_open(pid)] = {
            "id": req.get("id"),
            "pid": pid,
            "read": r_read,
            "buf": bytearray(),
            "t0": time.monotonic(),
            "deadline": time.monotonic() + hard,
            "killed": False,
        }

    def finish(self, pidfd: int) -> dict:
        run = self.running.pop(pidfd)
        os.waitpid(run["pid"], 0)
        os.close(pidfd)
        os.set_blocking(run["read"], False)
        try:
            while chunk := os.read(run["read"], 1 << 16):
                run["buf"] += chunk
        except BlockingIOError:
            pass
        os.close(run["read"])
        record = None
        for line in run["buf"].decode(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
        if record is None:
            if run["killed"]:
                record = {"status": "timeout", "reason": "wall_time (hard kill)"}
            else:
                record = {"status": "error", "reason": "the sandbox exited without a result"}
        record["id"] = run["id"]
        record["seconds"] = round(time.monotonic() - run["t0"], 4)
        return record

    def probe(self) -> dict:
        """Pick the strongest mode that works here, by running a tiny program in each."""
        limits = dict(self.config["default_limits"], wall_time_s=10)
        env = self.config.get("env", {})
        tried = {}
        for mode in ("root", "userns", "none") if os.geteuid() == 0 else ("userns", "none"):
            self.mode = mode
            prog = "import os, socket\nopen('/tmp/probe', 'w').write('x')\n"
            self.start(
                {"id": "probe", "program": prog, "tests": ["assert True"], "limits": limits, "env": env}
            )
            pidfd, run = next(iter(self.running.items()))
            if not select.select([pidfd], [], [], 30)[0]:
                os.kill(run["pid"], signal.SIGKILL)
                run["killed"] = True
            record = self.finish(pidfd)
            tried[mode] = record.get("setup_error") or record.get("reason") or record["status"]
            if record["status"] == "ok":
                return {"mode": mode, "setup": record.get("setup", {}), "tried": tried}
        return {"mode": "none", "setup": {}, "tried": tried}

    def serve(self) -> None:
        out = sys.stdout.fileno()
        info = self.probe()
        _json_line(out, {"ready": True, "isolation": info, "euid": os.geteuid(), "pid": os.getpid()})
        stdin = sys.stdin.fileno()
        buf = bytearray()
        eof = False
        while not eof or self.running:
            now = time.monotonic()
            for run in self.running.values():
                if not run["killed"] and now >= run["deadline"]:
                    os.kill(run["pid"], signal.SIGKILL)
                    run["killed"] = True
            waits = [r["deadline"] - now for r in self.running.values() if not r["killed"]]
            timeout = max(0.0, min(waits)) if waits else None
            fds = list(self.running) + ([] if eof else [stdin])
            ready, _, _ = select.select(fds, [], [], timeout)
            for pidfd in [fd for fd in ready if fd in self.running]:
                _json_line(out, self.finish(pidfd))
            if stdin in ready:
                chunk = os.read(stdin, 1 << 20)
                if not chunk:
                    eof = True
                buf += chunk
                while b"\n" in buf:
                    line, _, rest = bytes(buf).partition(b"\n")
                    buf = bytearray(rest)
                    if line.strip():
                        self.handle(json.loads(line), out)

    def handle(self, req: dict, out: int) -> None:
        if not isinstance(req.get("program"), str) or not isinstance(req.get("tests"), list):
            _json_line(out, {"id": req.get("id"), "status": "error", "reason": "bad request"})
            return
        req["limits"] = {**self.config["default_limits"], **(req.get("limits") or {})}
        req["env"] = self.config.get("env", {})
        try:
            self.start(req)
        except OSError as e:  # fork failed (machine out of processes or memory): report, keep serving
            _json_line(
                out, {"id": req.get("id"), "status": "error", "reason": f"cannot start the sandbox: {e}"}
            )


def main() -> None:
    config = json.loads(sys.argv[1])
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        Server(config).serve()
    except BrokenPipeError:
        pass
    except OSError as e:
        if e.errno != errno.EPIPE:
            raise


if __name__ == "__main__":
    main()
