"""`snakemake` for the Slurm tests: the same CLI, with the Slurm plugin's status polling at a fixed interval.

snakemake-executor-plugin-slurm 2.8 adds 10 s to its polling interval after every status check in which
no job finished (up to 180 s), and it has no option to turn that off. On a real cluster, where jobs run
for hours, that saves queries; in the tiny test DAG, where jobs run 10-30 s, each finished job waited
another 10-20 s to be noticed: 40% of the measured Slurm run (388 s, 142 s of it between one job's
end and the next job's submission). Here the interval stays what the command line asks
(`--seconds-between-status-checks`). Nothing else changes: jobs are submitted, run and checked by
the real plugin against the real Slurm.

Usage: python tests/pipeline/slurm_snakemake.py <snakemake arguments>
"""

from __future__ import annotations

import sys

import snakemake_executor_plugin_slurm as slurm_plugin
from snakemake.cli import main


def _configured_interval(executor) -> float:
    return executor.workflow.remote_execution_settings.seconds_between_status_checks


def _ignore_backoff(executor, value) -> None:
    """The plugin assigns its back-off here; the interval stays the configured one."""


slurm_plugin.Executor.next_seconds_between_status_checks = property(_configured_interval, _ignore_backoff)

if __name__ == "__main__":
    sys.exit(main())
