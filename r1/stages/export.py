"""Export: one model of the run in both serving formats."""

from __future__ import annotations

from r1.rulekit import JobSpec


def export_model(job: JobSpec) -> None:
    """The HF directory with its model card (r1.export.export_hf) and the GGUF file (export_gguf)."""
    from r1.export import export_gguf, export_hf

    model = job.inp("model")
    export_hf(model, job.out("hf"), run_name=job.params["run_name"])
    export_gguf(model, job.out("gguf"), job.cfg["gguf_type"], name=job.wildcards["model"])
