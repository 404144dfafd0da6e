"""Registry credentials for pulling step images: parsed, matched to images by host.

Two sources give them, in this order of precedence (the first whose host matches an image
wins, as in Drone):

- Drone 1.x ``image_pull_secrets: [name]``: each named repository secret holds a Docker
  config JSON (``{"auths": {"host": {"auth": base64(user:pass)}}}``, or ``username`` and
  ``password`` instead of ``auth``), read by ``parse_docker_config``
  (drone/runner-go registry/auths/auth.go, ``Parse``).
- the repository's registries (Woodpecker's ``woodpecker-cli repo registry add``), given to
  every file of the repository, Drone or Woodpecker.

An image's registry host follows Docker's naming rule (``image_host``): the first path part
is a host when it holds a ``.`` or a ``:`` or is ``localhost``; otherwise the image is on
``docker.io``. A credential's address may be a URL (``https://index.docker.io/v1/``): its host
is what counts, and ``index.docker.io`` means ``docker.io`` (drone-runner-docker
internal/docker/image/image.go and woodpecker pipeline/frontend/yaml/utils/image.go,
``MatchHostname``). No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

DOCKER_HUB = "docker.io"


@dataclass
class RegistryAuth:
    """A user name and password for the registry at ``address`` (a host, maybe with port)."""

    address: str
    username: str
    password: str


def registry_host(address: str) -> str:
    """The host a credential is for: the host of a URL, ``docker.io`` for Docker Hub's
    names, else ``address`` itself (lower case, without a trailing ``/``)."""
    text = address.strip()
    if "://" in text:
        try:
            text = urlparse(text).netloc or text
        except ValueError:  # "http://[::1": no host can be read; the caller refuses ""
            return ""
    text = text.split("/", 1)[0].lower()
    if text == "index.docker.io":
        return DOCKER_HUB
    return text


def image_host(image: str) -> str:
    """The registry host of an image reference: ``127.0.0.1:5000/team/app:1`` ->
    ``127.0.0.1:5000``; ``alpine`` and ``team/app`` -> ``docker.io``."""
    name = image.strip().split("@", 1)[0]
    first, slash, _ = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return registry_host(first)
    return DOCKER_HUB


def auth_for(image: str, auths: Iterable[RegistryAuth]) -> RegistryAuth | None:
    """The first credential whose host is ``image``'s registry host, or None."""
    host = image_host(image)
    for auth in auths:
        if registry_host(auth.address) == host:
            return auth
    return None


def parse_docker_config(text: str) -> list[RegistryAuth]:
    """The credentials of a Docker config JSON, one per entry of ``auths``, in file order.

    An entry's ``auth`` (base64 of ``user:password``) wins over its ``username`` and
    ``password``, as in Drone. Raises ``ValueError`` saying what is wrong when the text is not
    such a document (never with the text itself: it is a secret)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested past Python's stack
        raise ValueError("is not JSON (a Docker config.json with an auths map)") from None
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        raise ValueError('has no "auths" map (a Docker config.json is expected)')
    out = []
    for address, entry in auths.items():
        if not isinstance(entry, dict):
            continue
        username = str(entry.get("username") or "")
        password = str(entry.get("password") or "")
        if entry.get("auth"):
            username, password = _decode_auth(str(entry["auth"]))
        out.append(RegistryAuth(registry_host(str(address)), username, password))
    return out


def _decode_auth(value: str) -> tuple[str, str]:
    """``user:password`` of a config entry's base64 ``auth``; empty when it does not decode."""
    try:
        plain = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    username, _, password = plain.partition(":")
    return username, password


def needed(images: Iterable[str], auths: Iterable[RegistryAuth]) -> list[RegistryAuth]:
    """The credentials, in order, that some of ``images`` would be pulled with; the others
    are left out, so a stage receives only what it uses."""
    hosts = {image_host(i) for i in images if i}
    seen: set[str] = set()
    out = []
    for auth in auths:
        host = registry_host(auth.address)
        if host in hosts and host not in seen:
            seen.add(host)
            out.append(auth)
    return out


def pull_secret_auths(names: Iterable[str], values: dict[str, str]) -> list[RegistryAuth]:
    """The credentials of the pull secrets ``names`` (Drone's ``image_pull_secrets``) whose
    values are given, in the order named; a secret that is not a Docker config adds nothing,
    as in Drone (drone-runner-docker engine/compiler/compiler.go, ``Compile``: a pull
    secret that does not parse is passed over). Names match in any case, as secret names do."""
    by_name = {key.lower(): value for key, value in values.items()}
    out: list[RegistryAuth] = []
    for name in names:
        value = values.get(name) or by_name.get(name.lower())
        if not value:
            continue
        try:
            out.extend(parse_docker_config(value))
        except ValueError:
            continue
    return out
