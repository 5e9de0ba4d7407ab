"""The report assets of `snakemake --report`."""

from __future__ import annotations

from r1.rulekit import JobSpec


def report(job: JobSpec) -> None:
    from r1.report import build_report_assets

    build_report_assets(job)
