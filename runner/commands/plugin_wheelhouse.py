"""The wheelhouse of the plugin images: the wheels pinned in ``plugins/requirements.txt``, for
the Python and platform of the plugins' base image, downloaded on the host by pip.

A ``docker build`` has no network to install packages from, so the host fetches the wheels
once (pip's own configuration decides where from) into a cache folder outside git, and the
plugin Dockerfiles install from it with ``pip install --no-index``. A wheelhouse is kept per
Python version, platform and requirements file; one that is complete is reused as it is. The
server image (``server_image``) takes its libraries from a wheelhouse made the same way.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import EngineError, RunnerError

WHEELHOUSE_ENV = "RUNNER_WHEELHOUSE"
REQUIREMENTS = "requirements.txt"
COMPLETE_MARK = ".complete"

# Asked of the base image's own python3: version, machine, C library name (glibc or musl) and
# the C library's version ("-" when unknown).
_PROBE = (
    "import platform, sys; "
    "print('%d.%d' % sys.version_info[:2], platform.machine(), platform.libc_ver()[0] or 'musl', "
    "platform.libc_ver()[1] or '-')"
)
_MANYLINUX_FLOOR = 17  # manylinux2014 is manylinux_2_17


@dataclass(frozen=True)
class Target:
    """The interpreter wheels are chosen for: ``3.11`` on ``x86_64`` with ``glibc``.

    ``glibc`` (``"2.36"``), when given, lets wheels built for any glibc up to that version in:
    without it only manylinux2014's (glibc 2.17) are, which the plugins' pinned wheels are.
    """

    python: str
    machine: str
    libc: str = "glibc"
    glibc: str = ""

    @property
    def key(self) -> str:
        """A folder name that tells wheelhouses for different targets apart."""
        key = f"cp{self.python.replace('.', '')}-{self.libc}-{self.machine}"
        return f"{key}-{self.glibc}" if self.glibc else key

    def pip_args(self) -> list[str]:
        """The ``pip download`` options that pick wheels for this target only."""
        abi = "cp" + self.python.replace(".", "")
        if self.libc == "musl":
            platforms = [f"musllinux_1_1_{self.machine}", f"musllinux_1_2_{self.machine}"]
        else:
            platforms = [f"manylinux2014_{self.machine}", f"manylinux_2_17_{self.machine}"]
            newest = int(self.glibc.split(".")[1]) if self.glibc else _MANYLINUX_FLOOR
            platforms += [
                f"manylinux_2_{minor}_{self.machine}"
                for minor in range(_MANYLINUX_FLOOR + 1, newest + 1)
            ]
        args = ["--only-binary=:all:", "--python-version", self.python]
        args += ["--implementation", "cp", "--abi", abi]
        for name in platforms:
            args += ["--platform", name]
        return args


def probe_target(
    client: Any, image: str, labels: dict[str, str] | None = None, *, glibc: bool = False
) -> Target:
    """Ask ``image``'s own ``python3`` which wheels it takes (pulls the image when missing);
    with ``glibc``, the target takes wheels for the image's glibc version too.

    ``client`` is a ``docker.DockerClient``. Raises ``EngineError`` when the image has no
    working ``python3``: the plugins need one.
    """
    import docker

    try:
        out = client.containers.run(
            image,
            ["python3", "-c", _PROBE],
            labels=labels or {},
            network_mode="none",
            remove=True,
        )
    except docker.errors.ContainerError as exc:
        raise EngineError(
            f"base image {image} has no working python3 ({exc}): the plugins need one"
        ) from None
    except docker.errors.ImageNotFound:
        raise EngineError(f"base image {image} not found locally nor pullable") from None
    python, machine, libc, version = out.decode().split()
    if glibc and libc == "glibc" and re.fullmatch(r"2\.\d+", version):
        return Target(python, machine, libc, version)
    return Target(python, machine, libc)


def wheelhouse_root() -> Path:
    """The cache folder of the wheelhouses: ``RUNNER_WHEELHOUSE``, else in the user's cache."""
    override = os.environ.get(WHEELHOUSE_ENV)
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "pipeline-runner" / "wheels"


def wheelhouse_path(target: Target, requirements: Path, root: Path | None = None) -> Path:
    """Where the wheelhouse of ``target`` for this requirements file lives (may not exist)."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    return (root or wheelhouse_root()) / f"{target.key}-{digest}"


def ensure_wheelhouse(
    target: Target,
    requirements: Path,
    root: Path | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """The complete wheelhouse of ``target``: reused when present, else downloaded by pip.

    The download goes to a private folder that is renamed into place only when pip succeeded,
    so an interrupted download or a concurrent builder never leaves a half wheelhouse behind.
    Raises ``RunnerError`` with pip's own message when a wheel cannot be had.
    """
    folder = wheelhouse_path(target, requirements, root)
    if (folder / COMPLETE_MARK).is_file():
        log(f"==> wheelhouse {folder} (reused)")
        return folder
    log(f"==> building wheelhouse {folder} for Python {target.python} ({target.machine})")
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check"]
    command += ["--no-input", "--dest", str(partial), *target.pip_args(), "-r", str(requirements)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise RunnerError(
            "pip could not download the wheels for Python "
            f"{target.python} ({target.machine}): {' / '.join(detail[-3:])} "
            "(check pip's index configuration, or set RUNNER_WHEELHOUSE to a prepared folder)"
        )
    (partial / COMPLETE_MARK).write_text(requirements.read_text())
    try:
        partial.rename(folder)
    except OSError:  # another builder finished first: its wheelhouse is as good as ours
        shutil.rmtree(partial, ignore_errors=True)
        if not (folder / COMPLETE_MARK).is_file():
            raise
    log(f"==> wheelhouse ready: {len(wheel_files(folder))} wheels")
    return folder


def wheel_files(folder: Path) -> list[Path]:
    """The wheels of a wheelhouse, sorted by name."""
    return sorted(folder.glob("*.whl"))
