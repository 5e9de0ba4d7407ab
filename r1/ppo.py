"""PPO for the RL stages (`algorithm: ppo`): the guide's value-model RL, beside the paper's GRPO (r1.grpo).

A value head (one linear layer, zero-initialised, on the policy's last hidden state: the critic shares the
policy's trunk, as TRL's former `AutoModelForCausalLMWithValueHead` did) predicts the return of every
completion token; the rule rewards score the whole completion at its last token; GAE (gamma, lam) turns the
per-token rewards and values into advantages and returns; the loss is PPO's clipped surrogate plus a clipped
value loss (vf_coef) minus an entropy bonus. KL to the reference model enters either as a per-token penalty in
the reward (`kl_penalty: reward`, the classic RLHF form: r_t = -beta * (log pi - log pi_ref), the score added
at the last token) or as a loss term (`kl_penalty: loss`, GRPO's k3 estimator, beta * KL).

Why not TRL's PPO: TRL 1.16 (installed) ships no PPOTrainer at all (neither in `trl` nor `trl.experimental`);
the one it had took a reward *model* (an nn.Module scoring sequences), not reward *functions*, which r1's rule
rewards, code sandbox and judge are. So r1 subclasses its own GRPO trainer (r1.engine: TRL's GRPOTrainer with
r1's CUDA rollouts) and replaces only what differs: the advantages (GAE from the value head instead of group
normalisation) and the loss. Prompts, rollouts, the reward registry and its per-row columns (answers, code
tests, the judge), reward logging, multi-epoch reuse of a rollout batch (`trl.num_iterations`: PPO epochs;
`trl.steps_per_generation`: mini-batches), checkpoints, resume, the NaN guard, metrics, TensorBoard and
held-out evaluation are the GRPO stage's.

Settings: GRPOConfig's own fields where they mean the same thing (`trl.epsilon` / `epsilon_high`: the policy
clip range; `trl.entropy_coef`: the entropy bonus; `trl.beta`: the KL coefficient, 0 = no reference model),
and the `ppo:` block for the rest (PPOSettings below holds their defaults). GRPO-only fields (`loss_type`,
`scale_rewards`, ...) are ignored.

The value head is saved in the trainer's checkpoints (resume restores it) but not in the stage's model
directory, which holds the policy alone, loadable like any other r1 model.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields

log = logging.getLogger(__name__)

RL_ALGORITHMS = ("grpo", "ppo")  # an RL stage's `algorithm`; the first (the paper's) is the default
KL_PENALTIES = ("reward", "loss")
VALUE_HEAD = "r1_value_head"  # the value head's submodule name on the policy (and its checkpoint keys)


@dataclass(frozen=True)
class PPOSettings:
    """A stage's `ppo:` block (r1.config.PPO reads its defaults here)."""

    gamma: float = 1.0  # discount (1: the return of a token is the completion's score, less later KL)
    lam: float = 0.95  # GAE lambda
    vf_coef: float = 0.1  # weight of the value loss
    cliprange_value: float = 0.2  # value updates clipped to old value +- this
    kl_penalty: str = "reward"  # reward: -beta * KL per token in the reward; loss: beta * KL (k3) in the loss
    whiten_advantages: bool = True  # normalise advantages over the batch's completion tokens

    @classmethod
    def from_config(cls, block: dict | None) -> PPOSettings:
        block = dict(block or {})
        unknown = sorted(set(block) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"ppo: unknown setting(s) {unknown}; settings: {[f.name for f in fields(cls)]}")
        out = cls(**block)
        if out.kl_penalty not in KL_PENALTIES:
            raise ValueError(f"ppo.kl_penalty: {out.kl_penalty!r}, expected one of {KL_PENALTIES}")
        return out


DEFAULTS = asdict(PPOSettings())


# ---- the algorithm, on tensors (B sequences x T completion tokens, mask 1 on real tokens) -----------------
def masked_mean(x, mask, dim=None):
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(x, mask):
    mean = masked_mean(x, mask)
    return masked_mean((x - mean) ** 2, mask)


def masked_whiten(x, mask, eps: float = 1e-8):
    """x normalised to mean 0, variance 1 over the masked entries (0 elsewhere)."""
    return (x - masked_mean(x, mask)) * (masked_var(x, mask) + eps).rsqrt() * mask


def token_rewards(scores, mask, kl=None, kl_coef: float = 0.0):
    """Per-token rewards: each sequence's score on its last real token, minus kl_coef * kl on every token."""
    import torch

    rewards = torch.zeros_like(mask, dtype=torch.float32)
    if kl is not None and kl_coef:
        rewards = rewards - kl_coef * kl.float()
    last = (mask.sum(1).long() - 1).clamp(min=0)
    rewards[torch.arange(len(scores), device=mask.device), last] += scores.float()
    return rewards * mask


def gae(rewards, values, mask, gamma: float, lam: float):
    """Generalised advantage estimation over each completion; a token's successor past the end is terminal.

    Returns (advantages, returns = advantages + values), both 0 on padding."""
    import torch

    values = values.float() * mask
    rewards = rewards.float() * mask
    advantages = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    steps = rewards.size(1)
    for t in reversed(range(steps)):
        next_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(last)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last * mask[:, t]
        advantages[:, t] = last
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def explained_variance(values, returns, mask) -> float:
    """1 - Var(returns - values) / Var(returns) over the real tokens: 1 a perfect critic, 0 a constant one."""
    var = masked_var(returns, mask)
    if float(var) == 0.0:
        return float("nan")
    return float(1 - masked_var(returns - values, mask) / var)


def clipped_policy_loss(logps, old_logps, advantages, eps_low: float, eps_high: float):
    """PPO's clipped surrogate per token, and where the clip was active."""
    import torch

    ratio = torch.exp(logps - old_logps)
    loss1 = -advantages * ratio
    loss2 = -advantages * torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
    return torch.maximum(loss1, loss2), (loss2 > loss1).float()


def clipped_value_loss(values, old_values, returns, clip: float):
    """0.5 * max((V - R)^2, (V_clipped - R)^2) per token, V_clipped = old V + clamp(V - old V, +-clip)."""
    import torch

    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    loss1 = (values - returns) ** 2
    loss2 = (clipped - returns) ** 2
    return 0.5 * torch.maximum(loss1, loss2), (loss2 > loss1).float()


def k3_kl(logps, ref_logps):
    """The per-token KL estimate GRPO puts in its loss: exp(ref - logp) - (ref - logp) - 1 (>= 0)."""
    import torch

    d = ref_logps - logps
    return torch.exp(d) - d - 1


def ppo_loss(
    *,
    logps,
    old_logps,
    advantages,
    values,
    old_values,
    returns,
    mask,
    entropies=None,
    ref_logps=None,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    cliprange_value: float = PPOSettings.cliprange_value,
    vf_coef: float = PPOSettings.vf_coef,
    entropy_coef: float = 0.0,
    kl_coef: float = 0.0,
) -> dict:
    """The PPO loss of a micro-batch (token mean) and its parts: policy, value, entropy, KL (in the loss only
    when kl_coef and ref_logps are given), clip fractions, approximate KL to the rollout policy."""
    mask = mask.float()
    pg, pg_clipped = clipped_policy_loss(logps, old_logps, advantages, eps_low, eps_high)
    vf, vf_clipped = clipped_value_loss(values.float(), old_values, returns, cliprange_value)
    out = {
        "policy_loss": masked_mean(pg, mask),
        "value_loss": masked_mean(vf, mask),
        "clipfrac": masked_mean(pg_clipped, mask),
        "value_clipfrac": masked_mean(vf_clipped, mask),
        "approx_kl": masked_mean(0.5 * (logps - old_logps) ** 2, mask),
    }
    loss = out["policy_loss"] + vf_coef * out["value_loss"]
    if entropies is not None:
        out["entropy"] = masked_mean(entropies, mask)
        loss = loss - entropy_coef * out["entropy"]
    if kl_coef and ref_logps is not None:
        out["kl_loss"] = masked_mean(k3_kl(logps, ref_logps), mask)
        loss = loss + kl_coef * out["kl_loss"]
    out["loss"] = loss
    return out


# ---- the trainer -----------------------------------------------------------------------------------------
def ppo_trainer_class():
    """r1's GRPO trainer class (r1.engine) with GAE advantages from a value head and the PPO loss."""
    import torch

    from r1.engine import grpo_trainer_class

    class R1PPOTrainer(grpo_trainer_class()):
        def __init__(self, *args, ppo: PPOSettings, **kwargs):
            super().__init__(*args, **kwargs)
            self.ppo = ppo
            policy = self.accelerator.unwrap_model(self.model)
            param = next(policy.parameters())
            head = torch.nn.Linear(policy.config.get_text_config().hidden_size, 1)
            torch.nn.init.zeros_(head.weight)
            torch.nn.init.zeros_(head.bias)
            # a submodule of the policy: the optimizer, device placement, checkpoints and resume all see it
            policy.add_module(VALUE_HEAD, head.to(device=param.device, dtype=param.dtype))
            self._scores = None

        def _forward(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, entropy=False):
            """Per-token log-probs (GRPO's fused LM head, which never materialises the logits), entropies and
            values of the completion tokens. The backbone's last hidden state is caught by a forward hook held
            only for this call (rollouts never see it); token t's value is read where its log-prob is."""
            policy = self.accelerator.unwrap_model(model)
            hidden: list = []

            def keep(module, args, output):
                hidden.append(output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0])

            hook = policy.base_model.register_forward_hook(keep)
            try:
                logps, entropies, _ = self._get_per_token_logps_and_entropies(
                    model,
                    input_ids,
                    attention_mask,
                    logits_to_keep,
                    batch_size=batch_size,
                    compute_entropy=entropy,
                )
            finally:
                hook.remove()
            states = torch.cat(hidden, dim=0)[:, -logits_to_keep - 1 : -1]
            head = getattr(policy, VALUE_HEAD)
            values = head(states.to(head.weight.dtype)).squeeze(-1)
            return logps, entropies, values

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._scores = rewards_per_func  # every process's rows; sliced to this one's below
            return rewards_per_func

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            if not self.model.training:
                return out
            s = self.ppo
            n = out["completion_ids"].size(0)
            rows = slice(self.accelerator.process_index * n, (self.accelerator.process_index + 1) * n)
            per_func = self._scores[rows]
            scores = (per_func * self.reward_weights.to(per_func.device).unsqueeze(0)).nansum(dim=1)
            mask = out["completion_mask"].float()
            input_ids = torch.cat([out["prompt_ids"], out["completion_ids"]], dim=1)
            attention_mask = torch.cat([out["prompt_mask"], out["completion_mask"]], dim=1)
            with torch.no_grad():
                old_logps, _, values = self._forward(
                    self.model,
                    input_ids,
                    attention_mask,
                    out["completion_ids"].size(1),
                    batch_size=self.args.per_device_train_batch_size,
                )
            values = values.float() * mask
            ref = out.get("ref_per_token_logps")
            kl = None if ref is None else (old_logps - ref) * mask
            kl_in_reward = self.beta if s.kl_penalty == "reward" else 0.0
            rewards = token_rewards(scores.to(mask.device), mask, kl, kl_in_reward)
            advantages, returns = gae(rewards, values, mask, s.gamma, s.lam)
            if s.whiten_advantages:
                advantages = masked_whiten(advantages, mask)
            out.update(
                advantages=advantages, returns=returns, old_values=values, old_per_token_logps=old_logps
            )
            metrics = self._metrics["train"]
            metrics["explained_variance"].append(explained_variance(values, returns, mask))
            metrics["values/mean"].append(float(masked_mean(values, mask)))
            metrics["returns/mean"].append(float(masked_mean(returns, mask)))
            if kl is not None:
                metrics["kl"].append(float(masked_mean(kl, mask)))
                if kl_in_reward:
                    metrics["non_score_reward"].append(float(-kl_in_reward * kl.sum(1).mean()))
            return out

        def _compute_loss(self, model, inputs):
            mask = inputs["completion_mask"]
            if "tool_mask" in inputs:
                mask = mask * inputs["tool_mask"]
            input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
            attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
            logps, entropies, values = self._forward(
                model, input_ids, attention_mask, inputs["completion_ids"].size(1), entropy=True
            )
            kl_coef = self.beta if self.ppo.kl_penalty == "loss" else 0.0
            parts = ppo_loss(
                logps=logps,
                old_logps=inputs["old_per_token_logps"],
                advantages=inputs["advantages"],
                values=values,
                old_values=inputs["old_values"],
                returns=inputs["returns"],
                mask=mask,
                entropies=entropies,
                ref_logps=inputs.get("ref_per_token_logps"),
                eps_low=self.epsilon_low,
                eps_high=self.epsilon_high,
                cliprange_value=self.ppo.cliprange_value,
                vf_coef=self.ppo.vf_coef,
                entropy_coef=self.entropy_coef,
                kl_coef=kl_coef,
            )
            mode = "train" if self.model.training else "eval"
            for key, value in parts.items():
                if key != "loss":
                    self._metrics[mode][key].append(self.accelerator.gather(value.detach()).mean().item())
            normalizer = self.current_gradient_accumulation_steps if mode == "train" else 1.0
            return parts["loss"] / normalizer

        def save_model(self, output_dir=None, _internal_call=False):
            """Checkpoints keep the value head (resume needs it); the stage's model is the policy alone."""
            if _internal_call:
                return super().save_model(output_dir, _internal_call=True)
            policy = self.accelerator.unwrap_model(self.model)
            head = policy._modules.pop(VALUE_HEAD)
            try:
                return super().save_model(output_dir)
            finally:
                policy._modules[VALUE_HEAD] = head

    return R1PPOTrainer
