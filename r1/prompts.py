"""Prompt rendering: the R1-Zero template, the paper's eval instruction, and r1's ChatML template."""

from __future__ import annotations

R1_ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
    "The assistant first thinks about the reasoning process in the mind and then provides the user with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
    "<answer> answer here </answer>. User: {prompt}. Assistant:"
)

MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

# ChatML with no default system prompt (the paper uses none) and {% generation %} markers so that TRL's
# assistant_only_loss works. SmolLM2's own template injects a system prompt and has no markers.
R1_CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

PROMPT_STYLES = ("r1_zero", "chat")


def user_message(problem: str, instruction: str | None = MATH_INSTRUCTION) -> str:
    problem = problem.strip()
    return f"{problem}\n{instruction}" if instruction else problem


def render_prompt(
    tokenizer, problem: str, style: str, instruction: str | None = MATH_INSTRUCTION, prefill: str = ""
) -> str:
    """Render one problem as the exact text the model continues.

    `r1_zero` is the paper's raw template (no chat template); `chat` applies the tokenizer's chat template
    to a single user turn (no system prompt) and appends `prefill` (e.g. "<think>\\n").
    """
    if style == "r1_zero":
        return R1_ZERO_TEMPLATE.format(prompt=problem.strip()) + prefill
    if style == "chat":
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": user_message(problem, instruction)}],
            tokenize=False,
            add_generation_prompt=True,
        )
        return text + prefill
    raise ValueError(f"unknown prompt style {style!r}; expected one of {PROMPT_STYLES}")
