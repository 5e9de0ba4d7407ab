"""Sandboxed execution of model-written Python against unit tests (code reward, filter and eval metric).

See r1/sandbox/server.py for the isolation (namespaces, minimal read-only root, rlimits) and
r1/sandbox/client.py for the API; `python -m r1 run-code --check` prints what this machine isolates.
"""

from r1.sandbox.client import Job, Limits, RunResult, Sandbox, SandboxUnavailable, shared_sandbox
from r1.sandbox.extract import extract_code, program_for

__all__ = [
    "Job",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxUnavailable",
    "extract_code",
    "program_for",
    "shared_sandbox",
]
