"""``clone: skip_verify`` is honoured as in Drone (drone-runner-docker engine/compiler/clone.go,
``cloneParams``: GIT_SSL_NO_VERIFY=true): a stage fetching from a git host whose TLS certificate
the agent cannot verify fails its clone step, and succeeds with ``skip_verify``. Real git over
HTTPS (a self-signed certificate, git's dumb HTTP protocol) into the agent's mirror; the engine
is the fake one, since only the workspace copy would need Docker."""

from __future__ import annotations

import functools
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runner.agent.clone import CloneSource
from runner.agent.executor import Executor
from runner.engine.base import StepLog
from runner.engine.fake import FakeEngine
from runner.errors import EngineError
from runner.gitmirror import Mirror
from runner.pipeline.spec import KIND_CLONE, CloneSpec, StageSpec, StepSpec


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_repo(bare_repo, tmp_path) -> Iterator[tuple[str, list[str]]]:
    """``bare_repo`` served over HTTPS on 127.0.0.1 with a self-signed certificate."""
    url, shas = bare_repo
    bare = Path(url.removeprefix("file://"))
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    handler = functools.partial(_Quiet, directory=str(bare.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/{bare.name}", shas
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _verifying_git(monkeypatch):
    monkeypatch.delenv("GIT_SSL_NO_VERIFY", raising=False)


def _clone_stage(skip_verify: bool) -> StageSpec:
    return StageSpec(
        name="test",
        clone=CloneSpec(skip_verify=skip_verify),
        steps=[StepSpec("clone", "", kind=KIND_CLONE), StepSpec("build", "img")],
    )


def test_mirror_refuses_an_unverified_certificate_unless_told_to_skip(https_repo, tmp_path):
    url, shas = https_repo
    with pytest.raises(EngineError):
        Mirror(tmp_path / "strict", url).update(commit=shas[-1])
    mirror = Mirror(tmp_path / "lenient", url)
    assert mirror.update(commit=shas[-1], skip_verify=True) == shas[-1]
    mirror.export(shas[-1], tmp_path / "work", skip_verify=True)
    assert (tmp_path / "work" / "file3.txt").read_text() == "content 3\n"


def test_clone_step_fails_on_the_certificate_and_succeeds_with_skip_verify(https_repo, tmp_path):
    url, shas = https_repo
    lines: list[str] = []

    def sink(_name: str) -> StepLog:
        return StepLog(lines.append)

    for skip_verify, expected in ((False, "failure"), (True, "success")):
        source = CloneSource(url, commit=shas[0], cache_dir=str(tmp_path / f"m-{skip_verify}"))
        engine = FakeEngine()
        result = Executor(
            engine, _clone_stage(skip_verify), clone_source=source, log_sink_factory=sink
        ).run()
        assert {s.name: s.status for s in result.steps}["clone"] == expected
    assert engine.copied == [[".git", ".pipeline.yml", "file1.txt"]]
    assert "TLS certificates are not verified (clone: skip_verify)" in lines
