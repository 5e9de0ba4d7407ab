"""SFT with a weight per example (the guide's safety-aware loss in the stabilisation SFT).

    loss = sum_i w_i * sum_t nll(i, t) / N

over the completion tokens t of the examples i in the batch, N = the number of completion tokens (TRL's own
token-level normalisation, across gradient accumulation when the trainer passes `num_items_in_batch`). With
every w_i = 1 this is exactly TRL's SFT loss; a safety example with weight lambda counts lambda times.

TRL's SFTTrainer has no per-example weights: it keeps only model inputs when it batches, and its loss sees
only the logits and labels. `WeightedSFTTrainer` keeps a `weight` column through batching (signature columns
and a collator wrapper) and hands the batch's weights to TRL's `compute_loss_func` hook; everything else
(dataset preparation, completion-only labels, metrics) is TRL's.
"""

from __future__ import annotations


def weighted_nll(logits, labels, weights, num_items_in_batch=None):
    """sum_i w_i * sum_t -log p(labels[i, t+1] | ...) / N, with labels -100 ignored (HF's shift by one)."""
    import torch

    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:].to(shift_logits.device)
    mask = shift_labels != -100
    logp = torch.log_softmax(shift_logits, dim=-1)
    nll = -logp.gather(-1, shift_labels.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
    per_example = nll.sum(dim=1)
    n = mask.sum() if num_items_in_batch is None else num_items_in_batch
    w = weights.to(per_example.device, per_example.dtype)
    return (w * per_example).sum() / torch.as_tensor(n, device=per_example.device).clamp(min=1)


def weighted_sft_trainer_class():
    import torch
    from trl import SFTTrainer

    class WeightedSFTTrainer(SFTTrainer):
        """SFTTrainer whose loss weighs each example by its dataset column `weight`."""

        def __init__(self, *args, **kwargs):
            if kwargs.get("compute_loss_func") is not None:
                raise ValueError("WeightedSFTTrainer sets its own compute_loss_func")
            kwargs["compute_loss_func"] = self._weighted_loss
            super().__init__(*args, **kwargs)
            if self.args.packing or self.args.padding_free:
                raise ValueError(
                    "per-example weights need unpacked batches: set trl.packing and padding_free off"
                )
            base = self.data_collator

            def collate(examples):
                weights = [float(e.pop("weight", 1.0)) for e in examples]
                batch = base(examples)
                batch["weight"] = torch.tensor(weights, dtype=torch.float32)
                return batch

            self.data_collator = collate
            self._weights = None

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            if "weight" not in self._signature_columns:
                self._signature_columns = [*self._signature_columns, "weight"]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            self._weights = inputs.pop("weight", None)
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

        def _weighted_loss(self, outputs, labels, num_items_in_batch=None):
            weights = self._weights if self._weights is not None else torch.ones(labels.shape[0])
            return weighted_nll(outputs.logits, labels, weights, num_items_in_batch)

    return WeightedSFTTrainer
