"""``make lab``: JupyterLab starts on notebooks/ with this environment's kernel, headless.

The test runs the Makefile's own target (with ``VENV`` set to the environment running the tests,
which the Makefile built) with ``--no-browser`` on a free port and a token, waits for the server's
REST API to answer, checks what a user would see (the notebooks at the top, the kernel they name,
which runs in this environment and imports stingylib), and stops it. The notebooks themselves run top to bottom with their default
parameters under nbmake, with the same ``python3`` kernel of this environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)
STARTUP_SECONDS = 180


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _execute(url: str, token: str, code: str, timeout: float = 120.0) -> str:
    """Run ``code`` in a server's kernel over its websocket (Jupyter messaging, JSON frames) and
    return what it printed; fail on an error reply."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    conn = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}))
    msg_id = uuid.uuid4().hex
    conn.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    out, replied, idle, deadline = [], False, False, time.monotonic() + timeout
    try:
        while not (replied and idle):  # the reply (shell) and the end of the output (iopub: idle)
            frame = await asyncio.wait_for(conn.read_message(), deadline - time.monotonic())
            assert frame is not None, "the kernel's websocket closed"
            msg = json.loads(frame)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                raise AssertionError(f"the kernel failed: {msg['content']['ename']}: {msg['content']['evalue']}")
            elif msg["msg_type"] == "execute_reply":
                assert msg["content"]["status"] == "ok", msg["content"]
                replied = True
            elif msg["msg_type"] == "status":
                idle = msg["content"]["execution_state"] == "idle"
    finally:
        conn.close()
    return "".join(out)


def _api(base: str, token: str, path: str, method: str = "GET", body: dict | None = None) -> object:
    request = urllib.request.Request(f"{base}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.skipif(not (VENV / ".stingy-installed").is_file(),
                    reason="the tests do not run in an environment the Makefile built (make test does)")
def test_make_lab_starts_jupyterlab_on_the_notebooks(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "run"),
           "IPYTHONDIR": str(tmp_path / "ipython")}
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["make", "-C", str(ROOT), "lab", f"VENV={VENV}", f"LAB_ARGS={args}"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, status = time.monotonic() + STARTUP_SECONDS, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = _api(base, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert status is not None, f"JupyterLab did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}"
        assert "started" in status

        # it opened on notebooks/: the notebooks are at the top level of what it serves
        listing = {item["name"] for item in _api(base, token, "/api/contents")["content"]}
        assert {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} <= listing

        # the kernel the notebooks name is there, and it starts
        kernel_name = json.loads((ROOT / "notebooks" / "table1.ipynb").read_text())["metadata"]["kernelspec"]["name"]
        specs = _api(base, token, "/api/kernelspecs")
        assert kernel_name in specs["kernelspecs"], sorted(specs["kernelspecs"])
        kernel = _api(base, token, "/api/kernels", "POST", {"name": kernel_name})
        code = "import sys, stingylib; print(sys.prefix)"
        printed = asyncio.run(_execute(f"ws://127.0.0.1:{port}/api/kernels/{kernel['id']}/channels", token, code))
        assert Path(printed.strip()).resolve() == VENV.resolve(), printed  # the project's environment
        _api(base, token, f"/api/kernels/{kernel['id']}", "DELETE")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make and the server it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
