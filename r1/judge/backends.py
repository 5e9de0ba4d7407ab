"""Where a judge's replies come from: a local model (r1.generation) or an OpenAI-compatible endpoint (HTTP).

Both take chat turns (system + user, optionally a prefilled start of the reply) and return reply texts; the
local transformers backend can also score a fixed set of verdicts directly (`choice_probs`: teacher-forced
probabilities of each continuation), which needs no parsing and gives small judges a usable signal.
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1 << 20


class JudgeError(RuntimeError):
    """A judge call failed after its retries (connection, timeout, HTTP error, malformed reply)."""


class LocalBackend:
    """A local HF checkpoint through r1.generation (transformers or vLLM), greedy."""

    def __init__(self, model_dir: str, max_new_tokens: int = 16, generation: dict | None = None):
        from r1.generation import load_generator

        options = dict(generation or {})
        backend = options.pop("backend", "transformers")
        self.generator = load_generator(model_dir, backend, **options)
        self.tokenizer = self.generator.tokenizer
        self.max_new_tokens = max_new_tokens
        self.model_dir = model_dir

    def render(self, system: str, user: str, prefill: str = "") -> str:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:  # a raw base model without a chat template
            text = f"{system}\n\n{user}\n\n"
        return text + prefill

    def generate(self, system: str, users: list[str], prefill: str = "") -> list[str | JudgeError]:
        from r1.generation import SamplingParams

        prompts = [self.render(system, u, prefill) for u in users]
        params = SamplingParams(n=1, temperature=0.0, top_p=1.0, max_new_tokens=self.max_new_tokens)
        outs = self.generator.generate(prompts, params, desc="judge")
        return [prefill + o[0].text for o in outs]

    def choice_probs(self, system: str, users: list[str], prefill: str, choices: tuple[str, ...], close: str):
        """Per user turn, the probability of each `choice + close` as the continuation of the rendered prompt
        + `prefill` (softmax over the choices' summed token log-probabilities). One prompt forward per item,
        then all choices in one batch over the repeated KV cache."""
        import torch

        gen = self.generator
        if getattr(gen, "backend", "") != "transformers":
            raise JudgeError("judge method 'expected' needs the transformers backend; use method: parse")
        tok, model = gen.tokenizer, gen.model
        out = []
        for user in users:
            text = self.render(system, user, prefill)
            prompt_ids = tok(text, add_special_tokens=False)["input_ids"]
            cands = []
            for c in choices:
                full = tok(text + c + close, add_special_tokens=False)["input_ids"]
                ok = full[: len(prompt_ids)] == prompt_ids
                cands.append(
                    full[len(prompt_ids) :] if ok else tok(c + close, add_special_tokens=False)["input_ids"]
                )
            width = max(len(c) for c in cands)
            pad = tok.pad_token_id if tok.pad_token_id is not None else 0
            with torch.inference_mode():
                first = model(input_ids=torch.tensor([prompt_ids], device=gen.device), use_cache=True)
                first_logp = first.logits[0, -1].float().log_softmax(-1)
                cache = first.cache
                cache.batch_repeat_interleave(len(cands))
                batch = torch.tensor([c + [pad] * (width - len(c)) for c in cands], device=gen.device)
                rest = model(input_ids=batch, cache=cache, use_cache=False).logits.float().log_softmax(-1)
            scores = []
            for i, c in enumerate(cands):
                s = float(first_logp[c[0]])
                s += sum(float(rest[i, j - 1, c[j]]) for j in range(1, len(c)))
                scores.append(s)
            top = max(scores)
            weights = [math.exp(s - top) for s in scores]
            total = sum(weights)
            out.append([w / total for w in weights])
        return out


class OpenAIBackend:
    """POST {base_url}/chat/completions (OpenAI protocol: vLLM `vllm serve`, TGI, llama.cpp server, OpenAI).

    Each call has a total deadline of `timeout_s` (connect + reply), and is retried `retries` times with
    exponential back-off on connection errors, timeouts, HTTP 408/409/429/5xx and malformed replies; other
    HTTP errors (400, 401, 404) fail at once. The API key is read from the environment variable named in
    `api_key_env` (never from config). Proxies from the environment are not used.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        max_new_tokens: int = 16,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        retries: int = 2,
        concurrency: int = 4,
        backoff_s: float = 0.5,
    ):
        if not base_url:
            raise ValueError("judge: backend 'openai' needs base_url (e.g. http://localhost:8000/v1)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.retries = retries
        self.concurrency = max(1, concurrency)
        self.backoff_s = backoff_s
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.n_retries = 0

    def _once(self, body: bytes) -> str:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        deadline = time.monotonic() + self.timeout_s
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with self._opener.open(req, timeout=self.timeout_s) as resp:
            data = bytearray()
            while chunk := resp.read(65536):
                data += chunk
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reply not complete after {self.timeout_s:g} s")
                if len(data) > MAX_RESPONSE_BYTES:
                    raise ValueError("reply larger than 1 MiB")
        reply = json.loads(data)
        content = reply["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise ValueError(f"reply content is {type(content).__name__}, not text")
        return content

    def call(self, messages: list[dict]) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "messages": messages,
                "temperature": self.temperature,
                "max_tokens": self.max_new_tokens,
            }
        ).encode()
        last = None
        for attempt in range(self.retries + 1):
            try:
                return self._once(body)
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code} {e.reason}"
                if e.code not in (408, 409, 429) and e.code < 500:
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            except (ValueError, KeyError, IndexError, TypeError) as e:
                last = f"malformed reply: {type(e).__name__}: {e}"
            if attempt < self.retries:
                self.n_retries += 1
                time.sleep(self.backoff_s * 2**attempt)
        raise JudgeError(f"judge endpoint {self.url}: {last} (after {self.retries + 1} attempt(s))")

    def generate(self, system: str, users: list[str], prefill: str = "") -> list[str | JudgeError]:
        def one(user: str):
            try:
                return self.call([{"role": "system", "content": system}, {"role": "user", "content": user}])
            except JudgeError as e:
                log.warning("%s", e)
                return e

        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(one, users))
