"""``runner server image``: the server image from this checkout's Dockerfile, built without any
network.

The Dockerfile installs the server's libraries from ``wheels/`` when its build context holds a
wheelhouse there, else from pip's index. This module makes that context: the files the
Dockerfile copies (the checkout less what ``.dockerignore`` leaves out) and the wheelhouse of the
libraries ``setup.cfg`` names (install requirements and the ``s3`` extra), the build backend of
``pyproject.toml`` and pip, for the base image's own Python, fetched once by pip on the host
and kept (``plugin_wheelhouse``). So an engine that reaches no registry nor index builds it
from a local base image with ``network_mode="none"``.
"""

from __future__ import annotations

import configparser
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.commands.plugin import build_context, default_base_image, follow_build
from runner.commands.plugin_wheelhouse import ensure_wheelhouse, probe_target
from runner.errors import RunnerError

DEFAULT_TAG = "pipeline-runner:latest"
# The extras of setup.cfg the image installs; the Dockerfile names the same.
EXTRAS = ("s3",)


def source_root() -> Path:
    """The checkout this package runs from, holding the server's Dockerfile."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "Dockerfile").is_file() or not (root / "setup.cfg").is_file():
        raise RunnerError(
            f"no Dockerfile and setup.cfg in {root}: build the server image from a checkout "
            "of pipeline-runner (pip install -e .)"
        )
    return root


def server_requirements(root: Path) -> str:
    """The requirement lines of the image's libraries, one a line: ``setup.cfg``'s
    ``install_requires`` and ``EXTRAS``, ``pyproject.toml``'s build requirements and pip."""
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    lines = config["options"]["install_requires"].splitlines()
    if config.has_section("options.extras_require"):
        extras = config["options.extras_require"]
        for extra in EXTRAS:
            lines += extras.get(extra, "").splitlines()
    build_system = tomllib.loads((root / "pyproject.toml").read_text())["build-system"]
    lines += [*build_system["requires"], "pip"]
    return "".join(f"{line.strip()}\n" for line in lines if line.strip())


def build_server_image(
    client: Any,
    *,
    base_image: str = "",
    tag: str = DEFAULT_TAG,
    labels: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
    root: Path | None = None,
    wheelhouse_root: Path | None = None,
    network_mode: str | None = "none",
) -> str:
    """Build the server image ``tag`` from ``base_image`` (default: the Dockerfile's) and
    return ``tag``.

    ``client`` is a ``docker.DockerClient``. The wheelhouse is downloaded by pip first when it
    is missing (under ``wheelhouse_root``); the base image must have ``python3``, and ``git``
    unless the build may reach a Debian archive. Raises ``EngineError`` when the base image
    has no Python or the build fails (with the engine's message), ``RunnerError`` when pip
    cannot get a wheel.
    """
    root = root or source_root()
    base = base_image or default_base_image(root / "Dockerfile")
    target = probe_target(client, base, labels, glibc=True)
    with tempfile.TemporaryDirectory(prefix="pipeline-runner-image-") as tmp:
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(server_requirements(root))
        wheelhouse = ensure_wheelhouse(target, requirements, root=wheelhouse_root, log=log)
    log(f"==> building {tag} from {base}")
    with build_context(root, wheelhouse) as context:
        stream = client.api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            buildargs={"BASE_IMAGE": base},
            labels=labels or None,
            network_mode=network_mode,
            rm=True,
            forcerm=True,
            decode=True,
        )
        follow_build(stream, log, f"building the server image {tag} failed")
    return tag
