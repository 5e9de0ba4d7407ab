"""Progress bars for the long loops of a job (generation, grading, data): tqdm with rates, fit for log files.

A job's stderr is its log file (r1.rulekit), so outside a terminal each update is one plain line
("grade eval rl_zero/gsm8k:  40%|####      | 400/1000 [00:10<00:15, 39.8item/s]") written at most every
`R1_PROGRESS_INTERVAL` seconds (default 10), instead of carriage-return redraws. `R1_NO_PROGRESS=1` turns them
off (the tests set it).
"""

from __future__ import annotations

import os
import sys


class _LineWriter:
    """A file for tqdm that turns its carriage-return redraws into one line per update."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip("\n")
        if text.strip():
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def disabled() -> bool:
    return os.environ.get("R1_NO_PROGRESS") == "1"


def progress(iterable=None, *, desc: str, total: int | None = None, unit: str = "it", **kwargs):
    """tqdm over `iterable` (or a manual bar with `total`), writing to stderr."""
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    options = dict(
        desc=desc,
        total=total,
        unit=unit,
        disable=disabled(),
        file=sys.stderr if tty else _LineWriter(sys.stderr),
        mininterval=0.1 if tty else float(os.environ.get("R1_PROGRESS_INTERVAL", "10")),
        dynamic_ncols=tty,
        ncols=None if tty else 100,
        ascii=not tty,
    )
    options.update(kwargs)
    return tqdm(iterable, **options)
