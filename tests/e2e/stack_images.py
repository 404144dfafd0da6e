"""The images the stack test deploys in place of the public ones, built with no network:

- the server image, from this checkout's Dockerfile on runner-test/python
  (``runner.commands.server_image``);
- an S3 server speaking MinIO's command line (tests/e2e/images/s3: moto on runner-test/python);
- PostgreSQL: runner-test/postgres, a base image of scripts/base-images.sh.

The libraries of the first two come from wheelhouses pip fetches on the host once;
``python3 -m tests.e2e.stack_images`` fetches both (scripts/test.sh runs it before the tests, so
the builds reach no index while the tests run).
"""

from __future__ import annotations

import importlib.metadata
import io
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.commands.plugin import follow_build
from runner.commands.plugin_wheelhouse import (
    Target,
    ensure_wheelhouse,
    probe_target,
    wheel_files,
)
from runner.commands.server_image import build_server_image, server_requirements, source_root

PYTHON = "runner-test/python"
POSTGRES = "runner-test/postgres"
S3_FOLDER = Path(__file__).resolve().parent / "images" / "s3"


def _quiet(_line: str) -> None:
    pass


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def s3_requirements() -> str:
    """moto's S3 server at the version the tests use on the host, and pip to install it."""
    return f"moto[s3,server]=={importlib.metadata.version('moto')}\npip\n"


def _wheelhouse(target: Target, requirements: str, log: Callable[[str], None]) -> Path:
    with tempfile.TemporaryDirectory(prefix="pipeline-runner-stack-") as tmp:
        path = Path(tmp) / "requirements.txt"
        path.write_text(requirements)
        return ensure_wheelhouse(target, path, log=log)


def build_s3_image(
    client: Any, tag: str, labels: dict[str, str], log: Callable[[str], None] = _quiet
) -> str:
    """Build the S3 stand-in ``tag`` from runner-test/python with no network; ``tag``."""
    target = probe_target(client, PYTHON, labels, glibc=True)
    requirements = s3_requirements()
    wheelhouse = _wheelhouse(target, requirements, log)
    with tempfile.TemporaryFile() as context:
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name in ("Dockerfile", "minio_standin.py"):
                tar.add(S3_FOLDER / name, arcname=name)
            for wheel in wheel_files(wheelhouse):
                tar.add(wheel, arcname=f"wheels/{wheel.name}")
            listed = requirements.encode()
            info = tarfile.TarInfo("wheels/requirements.txt")
            info.size = len(listed)
            tar.addfile(info, io.BytesIO(listed))
        context.seek(0)
        stream = client.api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            buildargs={"BASE_IMAGE": PYTHON},
            labels=labels,
            network_mode="none",
            rm=True,
            forcerm=True,
            decode=True,
        )
        follow_build(stream, log, f"building the S3 stand-in {tag} failed")
    return tag


def build_runner_image(client: Any, tag: str, labels: dict[str, str]) -> str:
    """Build the server image ``tag`` from this checkout on runner-test/python with no network."""
    return build_server_image(client, base_image=PYTHON, tag=tag, labels=labels, log=_quiet)


def fetch_wheelhouses(client: Any, log: Callable[[str], None] = print) -> list[Path]:
    """The wheelhouses of both images for runner-test/python's Python, fetched when missing."""
    target = probe_target(client, PYTHON, glibc=True)
    return [
        _wheelhouse(target, server_requirements(source_root()), log),
        _wheelhouse(target, s3_requirements(), log),
    ]


if __name__ == "__main__":
    import docker

    for folder in fetch_wheelhouses(docker.from_env(), log=_to_stderr):
        print(folder)
