"""``runner plugin build``: build the plugin images of ``plugins/`` on the local engine.

Every plugin is built with the ``plugins/`` folder as its context (so the shared ``_lib/`` is
copied in) and tagged ``<tag-prefix><name>:<tag>`` — ``pipeline-runner/docker:latest`` by
default, the name on the agent's privileged-plugin list.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

from runner.errors import EngineError, RunnerError

DEFAULT_TAG_PREFIX = "pipeline-runner/"


def plugins_dir() -> Path:
    """The ``plugins/`` folder of this checkout (``RUNNER_PLUGINS_DIR`` overrides it)."""
    override = os.environ.get("RUNNER_PLUGINS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "plugins"


def available_plugins(root: Path | None = None) -> list[str]:
    """Names of the plugin folders (those holding a Dockerfile), sorted."""
    root = root or plugins_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "Dockerfile").is_file())


def build_plugin_images(
    client,
    names: list[str] | None = None,
    base_image: str = "",
    tag_prefix: str = DEFAULT_TAG_PREFIX,
    tag: str = "latest",
    labels: dict[str, str] | None = None,
    build_args: dict[str, str] | None = None,
    log: Callable[[str], None] = print,
    root: Path | None = None,
) -> list[str]:
    """Build the named plugins (all when empty) and return the image references built.

    ``client`` is a ``docker.DockerClient``; its low-level API streams the build output line by
    line to ``log``. A failing build (the engine's ``{"error": ...}`` chunk) raises
    ``EngineError`` naming the plugin; an unknown name raises ``RunnerError`` before any build.
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
    built = []
    for name in names:
        ref = f"{tag_prefix}{name}:{tag}"
        log(f"==> building {ref}")
        stream = client.api.build(
            path=str(root),
            dockerfile=f"{name}/Dockerfile",
            tag=ref,
            buildargs=args,
            labels=labels or None,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                raise EngineError(f"building plugin {name} ({ref}) failed: {detail.strip()}")
            text = chunk.get("stream") or chunk.get("status") or ""
            for line in text.rstrip("\n").splitlines():
                log(line)
        built.append(ref)
    return built


def register(group: click.Group) -> None:
    @group.group("plugin")
    def plugin() -> None:
        """Plugin images (plugins/)."""

    @plugin.command("build")
    @click.argument("names", nargs=-1)
    @click.option("--base-image", default="", help="FROM image (default: each Dockerfile's).")
    @click.option("--tag-prefix", default=DEFAULT_TAG_PREFIX, show_default=True)
    @click.option("--tag", default="latest", show_default=True)
    @click.option("--build-arg", "build_arg", multiple=True, help="KEY=VALUE, repeatable.")
    @click.option(
        "--plugins-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Folder holding the plugin folders (default: plugins/ of this checkout).",
    )
    def build(names, base_image, tag_prefix, tag, build_arg, plugins_dir) -> None:
        """Build plugin images locally (all of them when no NAME is given)."""
        import docker

        args = {}
        for item in build_arg:
            key, sep, value = item.partition("=")
            if not sep:
                raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--build-arg")
            args[key] = value
        try:
            client = docker.from_env()
            refs = build_plugin_images(
                client,
                list(names),
                base_image=base_image,
                tag_prefix=tag_prefix,
                tag=tag,
                build_args=args,
                log=click.echo,
                root=plugins_dir,
            )
        except RunnerError as exc:
            raise click.ClickException(str(exc)) from None
        except docker.errors.DockerException as exc:
            raise click.ClickException(f"Docker engine: {exc}") from None
        click.echo(f"built: {', '.join(refs)}")
