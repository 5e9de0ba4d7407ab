"""The code sandbox against hostile programs: each ends within its limits, the parent and the server survive,
nothing is written outside the sandbox, no connection is made, the parent's environment stays unread."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from r1.sandbox import Job, Limits, Sandbox, SandboxUnavailable, extract_code
from r1.sandbox.client import SERVER

LIMITS = Limits(
    wall_time_s=4.0,
    cpu_time_s=2.0,
    memory_mb=256,
    max_processes=16,
    max_output_bytes=64 * 1024,
    keep_output_bytes=1024,
    tmpfs_mb=8,
)
SLACK_S = 3.0  # start-up and teardown beyond the wall-time limit, on a loaded 2-core machine
SECRET = "r1-test-secret-8d1f0c"


@pytest.fixture(scope="module")
def box():
    os.environ["R1_SANDBOX_TEST_SECRET"] = SECRET  # in the parent's environment only
    try:
        with Sandbox(LIMITS, workers=2) as b:
            yield b
    except SandboxUnavailable as e:
        pytest.skip(f"no namespaces on this machine: {e}")
    finally:
        os.environ.pop("R1_SANDBOX_TEST_SECRET", None)


def run1(box, program: str, tests=(), limits=None):
    t0 = time.monotonic()
    (res,) = box.run([Job(program, list(tests))], limits)
    took = time.monotonic() - t0
    wall = (limits or LIMITS).wall_time_s
    assert took < wall + SLACK_S, f"took {took:.1f} s, limit {wall} s: {res}"
    return res


def sandbox_processes(server_pid: int) -> list[int]:
    """Processes forked from this server (their command line is the server's, config included: other tests'
    servers run with other limits), other than the server itself."""
    mine = Path(f"/proc/{server_pid}/cmdline").read_bytes()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == server_pid:
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if cmd == mine:
            out.append(int(d.name))
    return out


def assert_server_alive(box):
    res = run1(box, "def f(x):\n    return x * 2\n", ["assert f(2) == 4"])
    assert res.status == "ok", res


def test_passing_failing_and_broken_programs(box):
    ok = run1(box, "def f(x):\n    return x + 1\n", ["assert f(1) == 2", "assert f(5) == 6"])
    assert (ok.status, ok.passed, ok.n_passed, ok.n_tests) == ("ok", True, 2, 2)
    half = run1(box, "def f(x):\n    return 2\n", ["assert f(1) == 2", "assert f(5) == 6"])
    assert (half.status, half.passed, half.n_passed) == ("failed", False, 1)
    assert half.tests[1]["error"].startswith("AssertionError")
    syntax = run1(box, "def f(:\n", ["assert f(1) == 2"])
    assert syntax.status == "error" and "SyntaxError" in syntax.reason and syntax.n_passed == 0
    raises = run1(box, "raise ValueError('boom')\n", ["assert True"])
    assert raises.status == "error" and "ValueError: boom" in raises.reason
    early_exit = run1(box, "import os\nos._exit(0)\n", ["assert True"])
    assert early_exit.status == "error" and not early_exit.passed


def test_results_come_back_in_order_from_parallel_runs(box):
    jobs = [
        Job(f"import time\ntime.sleep({0.3 if i % 2 else 0})\nX = {i}\n", [f"assert X == {i}"])
        for i in range(6)
    ]
    results = box.run(jobs)
    assert [r.status for r in results] == ["ok"] * 6


def test_infinite_loop_is_stopped(box):
    res = run1(box, "while True:\n    pass\n", limits=Limits(**{**LIMITS.__dict__, "cpu_time_s": 30}))
    assert res.status == "timeout" and res.reason == "wall_time"
    assert_server_alive(box)


def test_cpu_time_limit(box):
    res = run1(
        box,
        "while True:\n    pass\n",
        limits=Limits(**{**LIMITS.__dict__, "wall_time_s": 20, "cpu_time_s": 1}),
    )
    assert res.status == "timeout" and res.reason == "cpu_time", res


def test_per_test_timeout_keeps_earlier_results(box):
    res = run1(
        box,
        "def f(x):\n    while x:\n        pass\n    return 0\n",
        ["assert f(0) == 0", "assert f(1) == 0", "assert f(0) == 0"],
        limits=Limits(**{**LIMITS.__dict__, "test_timeout_s": 0.5}),
    )
    assert res.status == "failed" and res.n_passed == 2
    assert res.tests[1]["error"].startswith("test timeout")


def test_fork_bomb(box):
    res = run1(box, "import os\nwhile True:\n    os.fork()\n")
    assert res.status in ("error", "timeout", "killed"), res
    time.sleep(0.5)
    assert sandbox_processes(box._proc.pid) == [], "fork bomb processes survived the sandbox"
    assert_server_alive(box)


def test_detached_children_die_with_the_sandbox(box):
    res = run1(box, "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\n")
    assert res.status == "ok"
    time.sleep(0.5)
    assert sandbox_processes(box._proc.pid) == []


def test_ten_gigabyte_allocation(box):
    res = run1(box, "x = bytearray(10 * 1024 ** 3)\n")
    assert res.status == "error" and res.reason.startswith("MemoryError"), res
    in_test = run1(box, "def f():\n    return bytearray(10 * 1024 ** 3)\n", ["assert f()"])
    assert in_test.status == "failed" and in_test.tests[0]["error"].startswith("MemoryError")


def test_huge_output_is_capped(box):
    res = run1(box, "while True:\n    print('x' * 10000)\n")
    assert res.status == "killed" and res.reason == "output_limit", res
    assert len(res.stdout) <= LIMITS.keep_output_bytes


def test_writes_outside_the_directory_fail(box, tmp_path):
    repo = Path(__file__).resolve().parents[2]
    targets = [
        tmp_path / "escape.txt",
        repo / "escape.txt",
        Path("/etc/r1_escape.txt"),
        Path("/escape.txt"),
        Path("/usr/r1_escape.txt"),
        Path(sys.prefix) / "r1_escape.txt",
        Path("/dev/shm/r1_escape.txt"),
        Path("/var/tmp/r1_escape.txt"),
    ]
    program = f"""
import json, os
wrote = []
for p in {[str(t) for t in targets]!r} + ['../escape.txt', '/tmp/../escape.txt']:
    try:
        with open(p, 'w') as f:
            f.write('x')
        wrote.append(os.path.realpath(p))
    except OSError:
        pass
open('inside.txt', 'w').write('the working directory is writable')
print(json.dumps({{"cwd": os.getcwd(), "wrote": wrote, "inside": os.path.exists('inside.txt')}}))
"""
    res = run1(box, program)
    assert res.status == "ok", res
    got = json.loads(res.stdout)
    assert got["cwd"] == "/tmp" and got["inside"]
    # '../escape.txt' from /tmp is /escape.txt: read-only. Only the private /tmp (a tmpfs) was writable.
    assert got["wrote"] == [], got["wrote"]
    for t in targets + [Path("/tmp/inside.txt")]:
        assert not t.exists(), f"the sandbox wrote {t}"


def test_disk_quota(box):
    res = run1(
        box, "with open('big', 'wb') as f:\n    for _ in range(100):\n        f.write(b'x' * (1 << 20))\n"
    )
    assert res.status == "error" and ("No space left" in res.reason or "File too large" in res.reason), res


def test_no_network(box):
    if box.isolation["mode"] == "none":
        pytest.skip("no network namespace here: the network is NOT blocked")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    program = f"""
import socket
results = []
for family, addr in [(socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_INET, ('1.1.1.1', 53)),
                     (socket.AF_INET, ('8.8.8.8', 443))]:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(addr)
        results.append('connected')
    except OSError as e:
        results.append(type(e).__name__)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b'x', ('127.0.0.1', {port}))
    results.append('sent')
except OSError as e:
    results.append(type(e).__name__)
try:
    socket.getaddrinfo('example.com', 80)
    results.append('resolved')
except OSError as e:
    results.append(type(e).__name__)
print(results)
"""
    res = run1(box, program)
    assert res.status == "ok", res
    assert "connected" not in res.stdout and "sent" not in res.stdout and "resolved" not in res.stdout
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()


def test_unix_sockets_of_the_host_are_out_of_reach(box, tmp_path):
    path = tmp_path / "host.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    os.chmod(path, 0o777)
    srv.listen(1)
    srv.settimeout(0.2)
    program = f"""
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect({str(path)!r})
    print('connected')
except OSError as e:
    print(type(e).__name__)
"""
    res = run1(box, program)
    assert res.status == "ok" and "connected" not in res.stdout, res
    with pytest.raises(TimeoutError):
        srv.accept()
    srv.close()


def test_environment_of_the_parent_is_not_readable(box):
    me, server = os.getpid(), box._proc.pid
    program = f"""
import json, os
leaks = []
for pid in ({me}, {server}, os.getppid(), 1):
    try:
        leaks.append(open(f'/proc/{{pid}}/environ', 'rb').read().decode(errors='replace'))
    except OSError:
        pass
print(json.dumps({{"env": dict(os.environ), "proc_environ": leaks}}))
"""
    res = run1(box, program)
    assert res.status == "ok", res
    got = json.loads(res.stdout)
    assert sorted(got["env"]) == ["HOME", "LANG", "PATH", "TMPDIR"]
    assert SECRET not in res.stdout


def test_killing_the_parent_fails(box):
    me, server = os.getpid(), box._proc.pid
    program = f"""
import os, signal
out = []
for pid in ({me}, {server}, os.getppid(), 1, -1, 0):
    try:
        os.kill(pid, signal.SIGKILL)
        out.append('sent')
    except OSError as e:
        out.append(type(e).__name__)
print(out)
"""
    res = run1(box, program)
    assert res.status in ("ok", "killed"), res  # kill(0) / kill(-1) may take the program itself down
    assert os.getpid() == me and box._proc.poll() is None
    assert_server_alive(box)


def test_privilege_is_gone(box):
    if box.isolation["mode"] == "none":
        pytest.skip("no namespaces here")
    program = """
import os
print(os.getuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0])
try:
    os.setuid(0)
    print('setuid ok')
except OSError as e:
    print(type(e).__name__)
"""
    res = run1(box, program)
    assert res.status == "ok", res
    uid, caps = res.stdout.split()[:2]
    assert uid != "0" and int(caps, 16) == 0 and "setuid ok" not in res.stdout


def test_a_dead_server_is_restarted(box):
    box._proc.kill()
    box._proc.wait()
    assert_server_alive(box)


def test_unprivileged_user_namespace_mode():
    """CI may run as a normal user: the server then makes a user namespace itself (mode userns)."""
    python = "/usr/bin/python3"
    if os.geteuid() != 0 or not os.path.exists(python) or not os.path.exists("/usr/bin/setpriv"):
        pytest.skip("needs root (to become nobody), /usr/bin/python3 and setpriv")
    config = {"default_limits": LIMITS.__dict__, "env": {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}}
    where = Path(tempfile.mkdtemp(prefix="r1-sandbox-test-", dir="/tmp"))  # readable by nobody
    where.chmod(0o755)
    server = where / "server.py"
    server.write_text(SERVER.read_text())
    server.chmod(0o644)
    cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-I", "-S", str(server)]
    proc = subprocess.Popen(
        cmd + [json.dumps(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd="/", env={}
    )
    try:
        hello = json.loads(proc.stdout.readline())
        if hello["isolation"]["mode"] == "none":
            pytest.skip(f"unprivileged user namespaces unavailable: {hello['isolation']['tried']}")
        assert hello["isolation"]["mode"] == "userns"
        bomb = (
            "import os, signal\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
            "            signal.pause()\n        n += 1\nexcept OSError:\n    print(n)\n"
        )
        for i, prog in enumerate(
            [bomb, "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\n"]
        ):
            proc.stdin.write((json.dumps({"id": i, "program": prog, "tests": []}) + "\n").encode())
            proc.stdin.flush()
        recs = sorted((json.loads(proc.stdout.readline()) for _ in range(2)), key=lambda r: r["id"])
        assert recs[0]["status"] == "ok" and int(recs[0]["stdout"]) < LIMITS.max_processes, recs[0]
        assert recs[1]["status"] == "error" and "unreachable" in recs[1]["reason"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        shutil.rmtree(where)


def test_run_code_cli(tmp_path):
    rows = [
        {
            "completion": "<think>x</think>\n```python\ndef add(a, b):\n    return a + b\n```",
            "tests": ["assert add(1, 2) == 3"],
        },
        {"code": "def add(a, b):\n    return a - b\n", "tests": ["assert add(1, 2) == 3"], "task": "keep me"},
        {"completion": "no code here", "tests": ["assert add(1, 2) == 3"]},
    ]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run(
        [sys.executable, "-m", "r1", "run-code", str(inp), str(out), "--wall-time", "5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g["status"] for g in got] == ["ok", "failed", "error"]
    assert [g["passed"] for g in got] == [True, False, False]
    assert got[1]["task"] == "keep me" and got[0]["n_tests"] == 1 and "seconds" in got[0]
    summary = json.loads(proc.stderr.strip().splitlines()[-1])
    assert summary["passed"] == 1 and summary["n"] == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"completion": "x"}\n{"code": 3, "tests": []}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "r1", "run-code", str(bad), str(out)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and f"{bad}: line 1: field 'tests'" in proc.stderr and "line 2" in proc.stderr


@pytest.mark.parametrize(
    "completion, code",
    [
        ("```python\ndef f():\n    return 1\n```", "def f():\n    return 1\n"),
        ("<think>```python\nbad()\n```</think>\nAnswer:\n```py\nok()\n```", "ok()\n"),
        ("```python\na()\n```\ntext\n```python\nb()\n```", "b()\n"),
        ("```text\nnot code\n```", None),
        ("```\nuntagged()\n```", "untagged()\n"),
        ("```python\ncut_at_max_tokens(", "cut_at_max_tokens(\n"),
        ("plain text, no fence", None),
        (None, None),
    ],
)
def test_extract_code(completion, code):
    assert extract_code(completion) == code


def test_limits_are_validated():
    with pytest.raises(ValueError, match="wall_time_s"):
        Limits(wall_time_s=0)
    with pytest.raises(ValueError, match="unknown key"):
        Limits.from_config({"wall_time": 3})


def test_isolation_report(box):
    iso = box.isolation
    assert iso["mode"] in ("root", "userns", "none")
    if iso["mode"] != "none":
        assert iso["setup"]["process_limit"].startswith("per sandbox")
