"""Smoke test of an OpenAI-compatible endpoint serving an exported model (`vllm serve`, `llama-server`, ...).

    python -m r1 serve-check --url http://127.0.0.1:8000/v1 --model NAME [--hf-dir EXPORTED_DIR]

Checks, each with a hard timeout: GET /models lists NAME; POST /chat/completions (greedy) answers a math
question with an assistant message; with --hf-dir, POST /completions on the prompt rendered locally with the
exported chat template returns the same text as the chat call and both prompts have the local token count
(`usage.prompt_tokens`), i.e. the server applies the model's own chat template (a server started with another
one, e.g. a default system prompt, fails here).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

QUESTION = "What is 17 + 25?\nPlease reason step by step, and put your final answer within \\boxed{}."


class SmokeTestError(RuntimeError):
    pass


def _call(url: str, payload: dict | None, timeout_s: float) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read().decode())
    except urllib.error.HTTPError as e:
        raise SmokeTestError(f"{url}: HTTP {e.code}: {e.read().decode(errors='replace')[:500]}") from e
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as e:
        raise SmokeTestError(f"{url}: {e}") from e


def render_prompt(hf_dir: str | Path, question: str = QUESTION) -> str:
    """The exact text a server should feed the model for one user turn, from the exported chat template."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_dir)
    return tok.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )


def smoke_test(
    base_url: str,
    model: str,
    hf_dir: str | Path | None = None,
    max_tokens: int = 16,
    timeout_s: float = 120.0,
) -> dict:
    """Run the checks; return what the server said. Raises SmokeTestError naming the failed check."""
    base = base_url.rstrip("/")
    served = [m.get("id") for m in _call(f"{base}/models", None, timeout_s).get("data", [])]
    if model not in served:
        raise SmokeTestError(f"{base}/models: {model!r} is not served (served: {served})")
    chat = _call(
        f"{base}/chat/completions",
        {
            "model": model,
            "messages": [{"role": "user", "content": QUESTION}],
            "max_tokens": max_tokens,
            "temperature": 0.0,
        },
        timeout_s,
    )
    try:
        choice = chat["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as e:
        raise SmokeTestError(f"{base}/chat/completions: no choices[0].message in {str(chat)[:500]}") from e
    if message.get("role") != "assistant" or not isinstance(message.get("content"), str):
        raise SmokeTestError(f"{base}/chat/completions: not an assistant message: {message}")
    if choice.get("finish_reason") not in ("stop", "length"):
        raise SmokeTestError(f"{base}/chat/completions: finish_reason {choice.get('finish_reason')!r}")
    report = {"served": served, "chat": message["content"], "finish_reason": choice["finish_reason"]}
    if hf_dir is not None:
        from transformers import AutoTokenizer

        prompt = render_prompt(hf_dir)
        n_local = len(AutoTokenizer.from_pretrained(hf_dir)(prompt, add_special_tokens=False)["input_ids"])
        raw = _call(
            f"{base}/completions",
            {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0},
            timeout_s,
        )
        text = raw["choices"][0]["text"]
        counts = {
            "local": n_local,
            "chat": chat.get("usage", {}).get("prompt_tokens"),
            "completions": raw.get("usage", {}).get("prompt_tokens"),
        }
        fix = f"start the server with --chat-template {Path(hf_dir) / 'chat_template.jinja'}"
        if counts["chat"] is not None and counts["chat"] != n_local:
            raise SmokeTestError(
                f"chat template mismatch: the server's chat prompt has {counts['chat']} tokens, the prompt "
                f"rendered with {hf_dir}'s chat template {n_local}; {fix}"
            )
        if text != message["content"]:
            raise SmokeTestError(
                f"chat template mismatch: /chat/completions said {message['content']!r} but /completions on "
                f"the prompt rendered with {hf_dir}'s chat template said {text!r}; {fix}"
            )
        report.update(completion=text, prompt_tokens=counts)
    return report


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m r1 serve-check", description=__doc__)
    p.add_argument("--url", required=True, help="the endpoint's base URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", required=True, help="the served model name")
    p.add_argument("--hf-dir", default=None, help="the exported HF directory: also check the chat template")
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    args = p.parse_args(argv)
    try:
        report = smoke_test(args.url, args.model, args.hf_dir, args.max_tokens, args.timeout)
    except SmokeTestError as e:
        print(f"r1 serve-check: FAILED: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, ensure_ascii=False))
    print("r1 serve-check: ok", file=sys.stderr)
    return 0
