"""A local server speaking the OpenAI chat-completions protocol, with a scripted judge behind it (tests only).

Replies are decided from the last user turn: an answer containing GOOD is rated 9, BAD 2, GARBAGE gets a reply
without a verdict, anything else 5. Pairwise prompts: `biased=True` always answers [[A]] (pure position bias);
otherwise the answer containing GOOD wins. Refusal prompts: an answer starting "I can't" is a refusal.
A question containing FLAKY fails with HTTP 500 on its first attempt; SLOW sleeps `slow_s` on its first
attempt; DOWN always fails with 503; AUTH needs the bearer token "sk-test".
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, biased: bool = False, slow_s: float = 2.0):
        self.biased = biased
        self.slow_s = slow_s
        self.requests: list[dict] = []
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append(
                        {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                    )
                status, content = fake.reply(self.path, body, self.headers.get("Authorization"))
                if status != 200:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b'{"error": "scripted failure"}')
                    return
                data = json.dumps(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "model": body.get("model"),
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _attempt(self, key: str) -> int:
        with self.lock:
            self.attempts[key] = self.attempts.get(key, 0) + 1
            return self.attempts[key]

    def reply(self, path: str, body: dict, auth: str | None) -> tuple[int, str]:
        if path != "/v1/chat/completions":
            return 404, ""
        user = body["messages"][-1]["content"]
        question = re.search(r"\[(?:Question|User Question|Request)\]\n(.*?)\n\n", user, re.S)
        question = question.group(1) if question else ""
        if "AUTH" in question and auth != "Bearer sk-test":
            return 401, ""
        if "DOWN" in question:
            return 503, ""
        if "FLAKY" in question and self._attempt(user) == 1:
            return 500, ""
        if "SLOW" in question and self._attempt(user) == 1:
            time.sleep(self.slow_s)
        if "two AI assistants" in user:
            if self.biased:
                return 200, "Assistant A is clearly better. [[A]]"
            a = user.split("[The Start of Assistant A's Answer]")[1].split("[The End")[0]
            b = user.split("[The Start of Assistant B's Answer]")[1].split("[The End")[0]
            return 200, "[[A]]" if "GOOD" in a else "[[B]]" if "GOOD" in b else "[[C]]"
        answer = user.split("[The Start of Assistant's Answer]\n")[-1].split("\n[The End")[0]
        if "REFUSAL" in user and "[Request]" in user:
            return 200, "[[REFUSAL]]" if answer.startswith("I can't") else "[[COMPLIANCE]]"
        if "GARBAGE" in answer:
            return 200, "What a lovely answer, I have no opinion."
        rating = 9 if "GOOD" in answer else 2 if "BAD" in answer else 5
        return 200, f"The answer is what it is. Rating: [[{rating}]]"
