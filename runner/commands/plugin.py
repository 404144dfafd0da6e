"""``runner plugin build``: build the plugin images of ``plugins/`` on the local engine.

Every plugin is built from one context: the ``plugins/`` folder (so the shared ``_lib/`` and
``requirements.txt`` are copied in) plus, under ``wheels/``, the wheelhouse of the pinned
libraries for the base image's Python (see ``plugin_wheelhouse``), which the Dockerfiles
install from without any network. Images are tagged ``<tag-prefix><name>:<tag>`` —
``pipeline-runner/docker:latest`` by default, the name on the agent's privileged-plugin list —
and also under the names Drone files use for the plugin they replace (``DRONE_NAMES``:
``plugins/docker:<tag>``), so ``image: plugins/docker`` runs this project's plugin unchanged.
"""

from __future__ import annotations

import os
import re
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import click

from runner.commands.plugin_wheelhouse import (
    REQUIREMENTS,
    ensure_wheelhouse,
    probe_target,
    wheel_files,
)
from runner.errors import EngineError, RunnerError

DEFAULT_TAG_PREFIX = "pipeline-runner/"
# The image names of the Drone plugins a plugin replaces, settings and all: Drone files name
# them (`image: plugins/docker`), and the image is pulled only when missing, so a local tag
# runs this project's plugin. plugins/docker is on Drone's privileged list and on the agent's.
DRONE_NAMES: dict[str, tuple[str, ...]] = {"docker": ("plugins/docker",)}
_BASE_IMAGE_ARG = re.compile(r"^\s*ARG\s+BASE_IMAGE=(\S+)", re.MULTILINE)
_COPIES_WHEELS = re.compile(r"^\s*COPY\s+(?:--\S+\s+)*wheels/", re.MULTILINE)


def plugins_dir() -> Path:
    """The ``plugins/`` folder of this checkout (``RUNNER_PLUGINS_DIR`` overrides it)."""
    override = os.environ.get("RUNNER_PLUGINS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "plugins"


def drone_name_refs(names: list[str], tag: str = "latest") -> list[str]:
    """The Drone image references (``DRONE_NAMES``) ``build_plugin_images`` tags for the
    plugins ``names`` with ``tag``."""
    return [f"{alias}:{tag}" for name in names for alias in DRONE_NAMES.get(name, ())]


def available_plugins(root: Path | None = None) -> list[str]:
    """Names of the plugin folders (those holding a Dockerfile), sorted."""
    root = root or plugins_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "Dockerfile").is_file())


def default_base_image(dockerfile: Path) -> str:
    """The ``ARG BASE_IMAGE=...`` default of a Dockerfile, or "" when it has none."""
    match = _BASE_IMAGE_ARG.search(dockerfile.read_text())
    return match.group(1) if match else ""


def default_base_images(root: Path) -> list[str]:
    """The distinct ``BASE_IMAGE`` defaults of the plugin Dockerfiles under ``root``."""
    found = (default_base_image(root / name / "Dockerfile") for name in available_plugins(root))
    return sorted({base for base in found if base})


def build_context(root: Path, wheelhouse: Path | None) -> IO[bytes]:
    """The build context as a tar file positioned at 0: ``root`` minus its ``.dockerignore``
    matches, plus the wheels of ``wheelhouse`` under ``wheels/``. The caller closes it."""
    from docker.utils.build import exclude_paths

    patterns: list[str] = []
    ignore_file = root / ".dockerignore"
    if ignore_file.is_file():
        lines = (line.strip() for line in ignore_file.read_text().splitlines())
        patterns = [line for line in lines if line and not line.startswith("#")]
    archive = tempfile.TemporaryFile()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for rel in sorted(exclude_paths(str(root), patterns)):
            tar.add(root / rel, arcname=rel, recursive=False)
        if wheelhouse is not None:
            for wheel in wheel_files(wheelhouse):
                tar.add(wheel, arcname=f"wheels/{wheel.name}")
    archive.seek(0)
    return archive


class _Contexts:
    """One wheelhouse per base image's Python, one context archive per wheelhouse."""

    def __init__(
        self,
        client: Any,
        root: Path,
        wheelhouse_root: Path | None,
        labels: dict[str, str],
        log: Callable[[str], None],
    ) -> None:
        self.client = client
        self.root = root
        self.wheelhouse_root = wheelhouse_root
        self.labels = labels
        self.log = log
        self.wheelhouses: dict[str, Path] = {}
        self.archives: dict[Path | None, IO[bytes]] = {}

    def for_base(self, base_image: str, needs_wheels: bool) -> IO[bytes]:
        """The context for a plugin built on ``base_image``, at position 0."""
        wheelhouse: Path | None = None
        if needs_wheels:
            if base_image not in self.wheelhouses:
                target = probe_target(self.client, base_image, self.labels)
                self.wheelhouses[base_image] = ensure_wheelhouse(
                    target, self.root / REQUIREMENTS, root=self.wheelhouse_root, log=self.log
                )
            wheelhouse = self.wheelhouses[base_image]
        if wheelhouse not in self.archives:
            self.archives[wheelhouse] = build_context(self.root, wheelhouse)
        archive = self.archives[wheelhouse]
        archive.seek(0)
        return archive

    def close(self) -> None:
        for archive in self.archives.values():
            archive.close()


def build_plugin_images(
    client: Any,
    names: list[str] | None = None,
    base_image: str = "",
    tag_prefix: str = DEFAULT_TAG_PREFIX,
    tag: str = "latest",
    labels: dict[str, str] | None = None,
    build_args: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
    root: Path | None = None,
    wheelhouse_root: Path | None = None,
    network_mode: str | None = None,
    drone_names: bool = True,
) -> list[str]:
    """Build the named plugins (all when empty) and return the image references built.

    With ``drone_names``, each image is also tagged under the names of the Drone plugins it
    replaces (``drone_name_refs``; not in the returned list, which names each image once).

    ``client`` is a ``docker.DockerClient``; its low-level API streams the build output line by
    line to ``log``. A plugin whose Dockerfile copies ``wheels/`` gets the wheelhouse for its
    base image's Python (downloaded first when missing, see ``ensure_wheelhouse``; kept under
    ``wheelhouse_root``). ``network_mode="none"`` builds without any network, which the
    plugins' own Dockerfiles allow. A failing build (the engine's ``{"error": ...}`` chunk)
    raises ``EngineError`` naming the plugin; an unknown name raises ``RunnerError`` before
    any build.
    """
    root = root or plugins_dir()
    known = available_plugins(root)
    if not known:
        raise RunnerError(
            f"no plugin folders (with a Dockerfile) in {root}: run from a checkout of "
            "pipeline-runner or pass --plugins-dir (RUNNER_PLUGINS_DIR)"
        )
    names = list(names or known)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RunnerError(
            f"unknown plugin(s) {', '.join(unknown)}: choose from {', '.join(known) or 'none'} "
            f"(folders of {root} with a Dockerfile)"
        )
    args = dict(build_args or {})
    if base_image:
        args["BASE_IMAGE"] = base_image
    contexts = _Contexts(client, root, wheelhouse_root, labels or {}, log)
    built = []
    try:
        for name in names:
            dockerfile = root / name / "Dockerfile"
            needs_wheels = bool(_COPIES_WHEELS.search(dockerfile.read_text()))
            base = base_image or default_base_image(dockerfile)
            if needs_wheels and not base:
                raise RunnerError(
                    f"plugin {name}: its Dockerfile has no ARG BASE_IMAGE default: pass "
                    "--base-image, the image whose Python the wheelhouse is for"
                )
            context = contexts.for_base(base, needs_wheels)
            ref = f"{tag_prefix}{name}:{tag}"
            log(f"==> building {ref}")
            stream = client.api.build(
                fileobj=context,
                custom_context=True,
                dockerfile=f"{name}/Dockerfile",
                tag=ref,
                buildargs=args,
                labels=labels or None,
                network_mode=network_mode,
                rm=True,
                forcerm=True,
                decode=True,
            )
            follow_build(stream, log, f"building plugin {name} ({ref}) failed")
            built.append(ref)
            if drone_names:
                for alias in drone_name_refs([name], tag):
                    repository, _, alias_tag = alias.rpartition(":")
                    client.api.tag(ref, repository, alias_tag)
                    log(f"==> tagged {alias} (the Drone name of {ref})")
    finally:
        contexts.close()
    return built


def follow_build(stream: Iterable[dict[str, Any]], log: Callable[[str], None], failed: str) -> None:
    """Pass the lines of a build's decoded output ``stream`` (``client.api.build(...,
    decode=True)``) to ``log``; a failing build's ``{"error": ...}`` chunk raises
    ``EngineError`` as ``"<failed>: <the engine's message>"``."""
    for chunk in stream:
        if "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            raise EngineError(f"{failed}: {detail.strip()}")
        text = chunk.get("stream") or chunk.get("status") or ""
        for line in text.rstrip("\n").splitlines():
            log(line)


def _docker_client() -> Any:
    import docker

    return docker.from_env()


def register(group: click.Group) -> None:
    @group.group("plugin")
    def plugin() -> None:
        """Plugin images (plugins/)."""

    plugins_dir_option = click.option(
        "--plugins-dir",
        "plugins_root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Folder holding the plugin folders (default: plugins/ of this checkout).",
    )

    @plugin.command("build")
    @click.argument("names", nargs=-1)
    @click.option("--base-image", default="", help="FROM image (default: each Dockerfile's).")
    @click.option("--tag-prefix", default=DEFAULT_TAG_PREFIX, show_default=True)
    @click.option("--tag", default="latest", show_default=True)
    @click.option("--build-arg", "build_arg", multiple=True, help="KEY=VALUE, repeatable.")
    @click.option(
        "--drone-names/--no-drone-names",
        default=True,
        show_default=True,
        help="Also tag the names of the Drone plugins replaced (plugins/docker:TAG).",
    )
    @click.option(
        "--network",
        default=None,
        help="Network of the build's RUN steps (`none` proves an offline build).",
    )
    @plugins_dir_option
    def build(
        names: tuple[str, ...],
        base_image: str,
        tag_prefix: str,
        tag: str,
        build_arg: tuple[str, ...],
        drone_names: bool,
        network: str | None,
        plugins_root: Path | None,
    ) -> None:
        """Build plugin images locally (all of them when no NAME is given).

        The pinned libraries (plugins/requirements.txt) are downloaded by pip into the
        wheelhouse first when it is missing (under RUNNER_WHEELHOUSE, else
        ~/.cache/pipeline-runner/wheels), then installed from it inside the image build.
        """
        import docker

        args = {}
        for item in build_arg:
            key, sep, value = item.partition("=")
            if not sep:
                raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--build-arg")
            args[key] = value
        try:
            refs = build_plugin_images(
                _docker_client(),
                list(names),
                base_image=base_image,
                tag_prefix=tag_prefix,
                tag=tag,
                build_args=args,
                log=click.echo,
                root=plugins_root,
                network_mode=network,
                drone_names=drone_names,
            )
        except RunnerError as exc:
            raise click.ClickException(str(exc)) from None
        except docker.errors.DockerException as exc:
            raise click.ClickException(f"Docker engine: {exc}") from None
        click.echo(f"built: {', '.join(refs)}")
        names_built = [ref.removeprefix(tag_prefix).partition(":")[0] for ref in refs]
        aliases = drone_name_refs(names_built, tag) if drone_names else []
        if aliases:
            click.echo(f"tagged for Drone files: {', '.join(aliases)}")

    @plugin.command("wheelhouse")
    @click.option(
        "--base-image",
        default="",
        help="The image whose Python the wheels are for (default: each Dockerfile's).",
    )
    @plugins_dir_option
    def wheelhouse(base_image: str, plugins_root: Path | None) -> None:
        """Download the plugins' pinned wheels (when missing) and print the folder(s).

        Run it on a machine that reaches pip's index, then copy the folder to an offline one
        and point RUNNER_WHEELHOUSE at its parent.
        """
        import docker

        root = plugins_root or plugins_dir()
        bases = [base_image] if base_image else default_base_images(root)
        try:
            client = _docker_client()
            for base in bases:
                target = probe_target(client, base)
                click.echo(str(ensure_wheelhouse(target, root / REQUIREMENTS, log=click.echo)))
        except RunnerError as exc:
            raise click.ClickException(str(exc)) from None
        except docker.errors.DockerException as exc:
            raise click.ClickException(f"Docker engine: {exc}") from None
