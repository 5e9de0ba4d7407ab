"""Thin entry point for every rule: run r1 stage `params.target` on this job and write its manifest."""

from r1.rulekit import run_rule

run_rule(snakemake, snakemake.params.target)  # noqa: F821 - injected by Snakemake
