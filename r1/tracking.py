"""Live tracking of the training stages: TensorBoard event files by default, W&B / Trackio on request.

Config (optional, top level; the default is TensorBoard only; checked at DAG load as r1.config.Tracking, which
takes its defaults from here):

    tracking:
      report_to: [tensorboard, wandb]   # any of tensorboard, wandb, trackio; [] turns tracking off
      project: r1                       # W&B / Trackio project (default: r1)

The block reaches a job beside its params (`JobSpec.tracking`), not in them, so changing where the curves go
reruns nothing. Event files go to `<stage dir>/tb/` (results/rl_zero/tb, results/distill/students/<name>/tb,
...): `tensorboard --logdir results` shows every stage. Whatever the trainer logs arrives there live, once per
logging step: TRL's reward, reward_std, rewards/<function>/mean, kl, entropy, completions/mean_length,
clip ratios, r1's accuracy/timeout_frac (the grader's timeout rate), loss, learning_rate, grad_norm, and every
key a callback logs through `trainer.log` (e.g. `heldout/<name>/pass@1`). Training keys get transformers'
`train/` prefix; `heldout/...` keys keep their own name, `eval_*` keys become `eval/...`.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

INTEGRATIONS = ("tensorboard", "wandb", "trackio")
DEFAULT_REPORT_TO = ("tensorboard",)
DEFAULT_PROJECT = "r1"
TB_DIR = "tb"
UNPREFIXED = ("heldout/",)  # keys that are not training metrics: shown under their own name

_settings: dict = {}


class TrackingError(ValueError):
    pass


def configure(tracking: dict | None) -> None:
    """Set this process's tracking from config `tracking` (None: the default, TensorBoard only)."""
    tracking = dict(tracking or {})
    report_to = list(tracking.get("report_to", DEFAULT_REPORT_TO))
    unknown = sorted(set(report_to) - set(INTEGRATIONS))
    if unknown:
        raise TrackingError(f"config tracking.report_to: unknown {unknown}; known: {list(INTEGRATIONS)}")
    _settings.clear()
    _settings.update(report_to=report_to, project=tracking.get("project", DEFAULT_PROJECT))


def settings() -> dict:
    """This process's tracking: as configured, else config `tracking` that r1.rulekit put in $R1_TRACKING
    (this module is imported by training jobs only, so editing it reruns no other rule)."""
    if not _settings:
        configure(json.loads(os.environ.get("R1_TRACKING") or "null"))
    return dict(_settings)


def tb_dir(work_dir: str | Path) -> Path:
    """A stage's TensorBoard folder: `tb/` beside its `checkpoints/` work folder and its declared `model/`."""
    return Path(work_dir).parent / TB_DIR


def reset(work_dir: str | Path) -> None:
    """A training run starting from scratch drops the curves of the run it replaces (a resume keeps them)."""
    shutil.rmtree(tb_dir(work_dir), ignore_errors=True)


def trainer_args(stage: str) -> dict:
    """TrainingArguments fields for the hosted trackers. TensorBoard comes as a callback (`callbacks`) that
    writes to r1's folder: transformers 5 has no `logging_dir` argument any more."""
    s = settings()
    hosted = [r for r in s["report_to"] if r != "tensorboard"]
    for name in hosted:
        _require(name)
    return {"report_to": hosted or "none", "run_name": stage, "project": s["project"]}


def _require(name: str) -> None:
    import importlib.util

    if importlib.util.find_spec(name) is None:
        raise TrackingError(
            f"config tracking.report_to lists {name!r}, but it is not installed: pip install {name}"
        )


def callbacks(work_dir: str | Path) -> list:
    """The TensorBoard callback for this stage (empty when tracking.report_to leaves TensorBoard out)."""
    if "tensorboard" not in settings()["report_to"]:
        return []
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    class R1TensorBoard(TensorBoardCallback):
        """transformers' TensorBoardCallback with r1's folder and names: `heldout/...` keeps its name, and any
        real number (numpy and torch scalars too) is a scalar."""

        def _init_summary_writer(self, args):
            self.tb_writer = SummaryWriter(log_dir=self.logging_dir)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            if self.tb_writer is None:
                self._init_summary_writer(args)
            for key, value in logs.items():
                tag = tag_for(key)
                if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
                    value = value.item()
                if isinstance(value, numbers.Real) and not isinstance(value, bool):
                    self.tb_writer.add_scalar(tag, float(value), state.global_step)
                elif isinstance(value, str):
                    self.tb_writer.add_text(tag, value, state.global_step)
            self.tb_writer.flush()

    folder = tb_dir(work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    cb = R1TensorBoard()
    cb.logging_dir = str(folder)
    log.info("tracking: TensorBoard event files in %s", folder)
    return [cb]


def tag_for(key: str) -> str:
    if key.startswith(UNPREFIXED):
        return key
    if key.startswith("eval_"):
        return "eval/" + key[len("eval_") :]
    return "train/" + key
