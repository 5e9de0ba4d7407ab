"""`python -m r1 <command> ...`: grade, eval, audit, export, and the stage entry points."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "grade": ("r1.grading.cli", "grade model outputs against references (strict|lenient)"),
    "eval": ("r1.eval.cli", "evaluate any HF checkpoint directory on any benchmark file"),
    "audit": ("r1.audit", "re-hash artifacts and check every manifest chain"),
    "learn": ("r1.learn", "learning experiments: run arms side by side (resumable), report held-out curves"),
    "export": ("r1.export", "export a checkpoint for serving: HF directory + model card, or GGUF"),
    "serve-check": ("r1.serving", "smoke-test an OpenAI-compatible endpoint serving an exported model"),
    "run-code": ("r1.sandbox.cli", "run model-written Python against unit tests in the sandbox"),
    "job": ("r1.rulekit", "run one pipeline job from a job-spec JSON (used by multi-GPU launches)"),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: python -m r1 <command> [args]\n\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:8s} {text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
