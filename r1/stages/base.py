"""The base model stage: the checkpoint every chain starts from."""

from __future__ import annotations

from r1.atomic import write_json
from r1.rulekit import JobSpec


def base_model(job: JobSpec) -> None:
    from r1.models import prepare_base_model

    facts = prepare_base_model(job.cfg, job.out("model"), job.seed)
    write_json(job.out("info"), facts)
