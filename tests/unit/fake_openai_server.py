"""A local OpenAI-compatible server for CI (no vLLM here): transformers greedy decoding of one HF directory.

Like `vllm serve DIR --chat-template DIR/chat_template.jinja`: /v1/chat/completions renders the messages with
a chat template (the directory's unless `chat_template` is given), /v1/completions takes the prompt as is.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def serve(hf_dir, name: str, chat_template: str | None = None):
    """Yield the base URL (http://127.0.0.1:PORT/v1) of a server running in a thread."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_dir)
    if chat_template is not None:
        tok.chat_template = chat_template
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    lock = threading.Lock()

    def complete(prompt: str, max_tokens: int) -> tuple[str, str, dict]:
        ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
        with lock, torch.no_grad():
            out = model.generate(
                **ids, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id
            )
        n_prompt = ids["input_ids"].shape[1]
        new = out[0, n_prompt:]
        finish = "stop" if len(new) < max_tokens or new[-1].item() == tok.eos_token_id else "length"
        usage = {
            "prompt_tokens": n_prompt,
            "completion_tokens": len(new),
            "total_tokens": n_prompt + len(new),
        }
        return tok.decode(new, skip_special_tokens=True), finish, usage

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": name, "object": "model"}]})
            else:
                self._send(404, {"error": self.path})

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if req.get("model") != name:
                return self._send(404, {"error": f"model {req.get('model')!r} not found"})
            if self.path == "/v1/chat/completions":
                prompt = tok.apply_chat_template(req["messages"], tokenize=False, add_generation_prompt=True)
                text, finish, usage = complete(prompt, req.get("max_tokens", 16))
                choice = {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
                return self._send(200, {"object": "chat.completion", "choices": [choice], "usage": usage})
            if self.path == "/v1/completions":
                text, finish, usage = complete(req["prompt"], req.get("max_tokens", 16))
                choice = {"index": 0, "text": text, "finish_reason": finish}
                return self._send(200, {"object": "text_completion", "choices": [choice], "usage": usage})
            self._send(404, {"error": self.path})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
