"""Logit knowledge distillation (`distill.method: kd`): soft targets from the teacher plus hard labels.

    loss = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(z_s, y)

averaged over completion tokens (labels != -100; the prompt and padding carry no loss), where z_s / z_t are
the student's / teacher's logits for the next token and y is the dataset's next token (the teacher's sampled
completion). T^2 keeps the soft term's gradient scale independent of T (Hinton et al. 2015).

Why not TRL: GKDTrainer's loss is a generalised JSD between the two distributions with no hard-label term, and
DistillationTrainer is on-policy only. So r1 subclasses TRL's SFTTrainer (dataset handling, completion-only
labels, logging, checkpoints stay TRL's) and replaces only `compute_loss`. Both models must share a
tokenizer: `check_tokenizers_match` compares the vocabularies and special tokens before training.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_ALPHA = 0.5
DEFAULT_TEMPERATURE = 2.0


def kd_loss(
    student_logits,
    teacher_logits,
    labels,
    alpha: float = DEFAULT_ALPHA,
    temperature: float = DEFAULT_TEMPERATURE,
):
    """(loss, soft term, hard term) for causal-LM logits [batch, length, vocab] and unshifted labels [batch,
    length] (position i's logits predict token i + 1). Terms are means over tokens whose label is not -100."""
    import torch.nn.functional as F

    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"kd_loss: student logits {tuple(student_logits.shape)} != teacher {tuple(teacher_logits.shape)}"
        )
    s = student_logits[:, :-1].float()
    t = teacher_logits[:, :-1].float()
    y = labels[:, 1:]
    mask = y != -100
    n = mask.sum().clamp(min=1)
    log_p_s = F.log_softmax(s / temperature, dim=-1)
    log_p_t = F.log_softmax(t / temperature, dim=-1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)  # KL(teacher_T || student_T) per token
    soft = (kl * mask).sum() / n
    ce = F.cross_entropy(s.reshape(-1, s.size(-1)), y.reshape(-1), ignore_index=-100, reduction="sum") / n
    loss = alpha * temperature**2 * soft + (1 - alpha) * ce
    return loss, soft, ce


def check_tokenizers_match(student, teacher) -> int:
    """Raise unless the student's and teacher's tokenizers (objects or model directories) have the same
    vocabulary and special tokens; return the vocabulary size (logits beyond it are padding rows, cut)."""
    from transformers import AutoTokenizer

    s = AutoTokenizer.from_pretrained(student) if isinstance(student, (str, Path)) else student
    t = AutoTokenizer.from_pretrained(teacher) if isinstance(teacher, (str, Path)) else teacher
    problems = []
    sv, tv = s.get_vocab(), t.get_vocab()
    if sv != tv:
        differ = sorted(set(sv.items()) ^ set(tv.items()))[:5]
        problems.append(f"vocabularies differ ({len(sv)} vs {len(tv)} tokens; e.g. {differ})")
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if getattr(s, attr) != getattr(t, attr):
            problems.append(f"{attr} {getattr(s, attr)} vs {getattr(t, attr)}")
    if problems:
        raise ValueError(
            f"logit distillation needs one tokenizer for student and teacher: {student} vs {teacher}: "
            + "; ".join(problems)
            + ". Use distill.method: sft (trains on the teacher's text), or a student with the teacher's "
            "tokenizer."
        )
    return len(s)


def kd_trainer_class():
    import torch
    from trl import SFTTrainer

    class KDTrainer(SFTTrainer):
        """SFTTrainer whose loss is `kd_loss` against a frozen teacher."""

        def __init__(self, *args, teacher_model, alpha: float, temperature: float, vocab_size: int, **kwargs):
            super().__init__(*args, **kwargs)
            self.teacher = teacher_model.to(self.accelerator.device).eval()
            for p in self.teacher.parameters():
                p.requires_grad_(False)
            self.kd_alpha, self.kd_temperature, self.kd_vocab = alpha, temperature, vocab_size

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            mode = "train" if self.model.training else "eval"
            forward = {
                k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")
            }
            outputs = model(**forward, use_cache=False)
            with torch.no_grad():
                teacher_logits = self.teacher(**forward, use_cache=False).logits
            v = self.kd_vocab
            loss, soft, hard = kd_loss(
                outputs.logits[..., :v],
                teacher_logits[..., :v],
                inputs["labels"],
                self.kd_alpha,
                self.kd_temperature,
            )
            self._metrics[mode]["kd/soft_kl"].append(soft.item())
            self._metrics[mode]["kd/hard_ce"].append(hard.item())
            return (loss, outputs) if return_outputs else loss

    return KDTrainer


def train_kd(
    *,
    model_dir: str,
    teacher_dir: str,
    dataset_parquets: list[str],
    stage_cfg: dict,
    kd_cfg: dict,
    stage: str,
    work_dir: str,
    model_out: str,
    metrics_out: str,
    seed: int,
    fp: str,
) -> None:
    """Logit KD of the student in `model_dir` from the teacher in `teacher_dir` on the SFT pairs (resume,
    metrics and atomic save: r1.checkpoints.train_resumable)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig

    from r1.checkpoints import train_resumable
    from r1.train import make_args, read_datasets, sft_dataset, sft_model_kwargs

    vocab = check_tokenizers_match(model_dir, teacher_dir)
    alpha, temperature = kd_cfg["alpha"], kd_cfg["temperature"]

    def build(work: Path, callbacks: list):
        df = read_datasets(dataset_parquets)
        if df.empty:
            raise ValueError(f"{stage}: the distillation dataset {dataset_parquets} is empty")
        args = make_args(SFTConfig, dict(stage_cfg["trl"]), work, seed, stage)
        kwargs = sft_model_kwargs(args)  # student and teacher see the same (maybe packed) batches
        log.info(
            "%s: logit KD (alpha %s, T %s) on %d examples from %s",
            stage,
            alpha,
            temperature,
            len(df),
            teacher_dir,
        )
        return kd_trainer_class()(
            model=AutoModelForCausalLM.from_pretrained(model_dir, **kwargs),
            teacher_model=AutoModelForCausalLM.from_pretrained(teacher_dir, **kwargs),
            alpha=alpha,
            temperature=temperature,
            vocab_size=vocab,
            args=args,
            train_dataset=sft_dataset(df).shuffle(seed=seed),
            processing_class=AutoTokenizer.from_pretrained(model_dir),
            callbacks=callbacks,
        )

    train_resumable(build, work_dir=work_dir, fp=fp, model_out=model_out, metrics_out=metrics_out)
