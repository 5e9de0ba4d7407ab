"""Does llama.cpp load r1's GGUF exports and run them as transformers runs the checkpoint?

`expectations(hf_dir)` (transformers) writes what llama.cpp must reproduce: token ids of some texts, the chat
template's rendering, greedy continuations. `probe(server, gguf, expected)` starts `llama-server` on the GGUF
and compares; it needs only the standard library, so it runs where llama.cpp is but r1's venv is not:

    python tests/unit/llamacpp_probe.py expect HF_DIR OUT.json
    python tests/unit/llamacpp_probe.py probe LLAMA_SERVER GGUF EXPECTED.json      # prints a JSON report

Used by tests/unit/test_llamacpp.py (opt-in: LLAMA_SERVER=/path/to/llama-server).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

TEXTS = [
    "What is 17 + 25? Put the final answer in \\boxed{}.",
    "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
    "  Mixed   spaces,\ttabs\nand 1234567 digits; naïve café 😀",
]
CHATS = [
    [{"role": "user", "content": "What is 17 + 25?"}],
    [
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "<think>2 is prime.</think> 2"},
        {"role": "user", "content": "And an even one?"},
    ],
]
N_NEW = 8


def expectations(hf_dir: str) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    prompts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in CHATS]
    greedy = []
    for p in prompts:
        ids = tok(p, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=N_NEW, do_sample=False, min_new_tokens=N_NEW)
        greedy.append(
            {
                "prompt_ids": ids["input_ids"][0].tolist(),
                "new_ids": out[0, ids["input_ids"].shape[1] :].tolist(),
            }
        )
    return {
        "tokens": [tok(t, add_special_tokens=False)["input_ids"] for t in TEXTS],
        "chats": prompts,
        "greedy": greedy,
    }


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def probe(server: str, gguf: str, expected: dict, startup_s: float = 120.0) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    cmd = [server, "-m", gguf, "--host", "127.0.0.1", "--port", str(port), "-c", "512", "--jinja", "-t", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + startup_s
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                    if json.loads(r.read()).get("status") == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                return {"loaded": False, "log": (proc.stdout.read() if proc.stdout else "")[-4000:]}
            time.sleep(0.5)
        report = {"loaded": True, "tokens": [], "chats": [], "greedy": []}
        for text, want in zip(TEXTS, expected["tokens"], strict=True):
            got = _post(f"{base}/tokenize", {"content": text, "add_special": False, "parse_special": True})[
                "tokens"
            ]
            report["tokens"].append({"equal": got == want, "got": got, "want": want})
        for chat, want in zip(CHATS, expected["chats"], strict=True):
            got = _post(f"{base}/apply-template", {"messages": chat})["prompt"]
            report["chats"].append({"equal": got == want, "got": got})
        for case in expected["greedy"]:
            body = {
                "prompt": case["prompt_ids"],
                "n_predict": N_NEW,
                "temperature": 0.0,
                "top_k": 1,
                "cache_prompt": False,
                "return_tokens": True,
                "ignore_eos": True,
            }
            got = _post(f"{base}/completion", body).get("tokens")
            report["greedy"].append({"equal": got == case["new_ids"], "got": got, "want": case["new_ids"]})
        return report
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    if sys.argv[1] == "expect":
        with open(sys.argv[3], "w") as f:
            json.dump(expectations(sys.argv[2]), f)
    else:
        print(json.dumps(probe(sys.argv[2], sys.argv[3], json.load(open(sys.argv[4]))), indent=1))
