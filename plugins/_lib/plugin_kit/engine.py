"""The host's Docker engine, reached through the socket the runner mounts into the step."""

from __future__ import annotations

import os

import docker

from plugin_kit.output import PluginError

DEFAULT_SOCKET = "/var/run/docker.sock"


def engine_client(environ: dict[str, str] | None = None) -> docker.DockerClient:
    """A Docker SDK client of ``DOCKER_HOST`` (default: the mounted unix socket).

    A missing socket is a ``PluginError`` that says how a step gets it, before any call.
    """
    environ = dict(os.environ if environ is None else environ)
    host = environ.get("DOCKER_HOST", "") or f"unix://{DEFAULT_SOCKET}"
    if host.startswith("unix://") and not os.path.exists(host[len("unix://") :]):
        raise PluginError(
            f"Docker socket {host[len('unix://') :]} not found: the step needs the host "
            "engine's socket mounted (an image on the agent's privileged-plugin list, or a "
            "trusted repository)"
        )
    # Streams (build, push) may stay silent for a while between messages.
    return docker.DockerClient(base_url=host, timeout=300)
