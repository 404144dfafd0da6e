"""Rules about git remote URLs: which are local, which host they name, how a submodule URL is
resolved and whether an untrusted build may fetch it, and how credentials in them are hidden.

Pure functions, no I/O: the server (repository settings, pipeline file reads) and the agent
(clone, submodules) apply the same rules.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import urlsplit, urlunsplit

# Schemes that reach another machine over the network; anything else (file://, ext::, fd::,
# a plain path) reads or runs something on the machine that does the fetch.
NETWORK_SCHEMES = frozenset({"http", "https", "ssh", "git", "git+ssh", "ssh+git"})
# The ``git`` protocols an untrusted fetch may use (GIT_ALLOW_PROTOCOL), as a second fence
# behind the URL check: file, ext and fd stay closed even for a URL the check did not see.
UNTRUSTED_GIT_PROTOCOLS = "http:https:ssh:git"
REDACTED = "***"

# scp-like syntax: ``user@host:path`` (no scheme, a colon before the first slash).
_SCP = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?!//)(?P<path>.*)$")
# ``scheme://user[:password]@`` anywhere in a text (an error message, a log line).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def scheme_of(url: str) -> str:
    """The URL's scheme in lower case: ``https``, ``file``, ``ext`` (for ``ext::``), ``ssh``
    for the scp-like ``git@host:path`` form, and ``""`` for a plain path."""
    url = url.strip()
    if "::" in url.split("/", 1)[0]:
        return url.split("::", 1)[0].lower()  # git's transport syntax: ext::cmd, fd::3
    if "://" in url:
        return url.split("://", 1)[0].lower()
    if _SCP.match(url) and not url.startswith(("/", ".")):
        return "ssh"
    return ""


def is_local_url(url: str) -> bool:
    """True when fetching ``url`` reads the fetching machine's own files or runs a command
    there (``file://``, ``ext::``, ``fd::``, a plain path), not another machine's service."""
    return scheme_of(url) not in NETWORK_SCHEMES


def host_of(url: str) -> str:
    """The host (lower case, without user and port) a network URL names; ``""`` otherwise."""
    scheme = scheme_of(url)
    if scheme not in NETWORK_SCHEMES:
        return ""
    if "://" not in url:
        match = _SCP.match(url.strip())
        return match.group("host").lower() if match else ""
    return (urlsplit(url.strip()).hostname or "").lower()


def resolve_submodule_url(url: str, repo_url: str) -> str:
    """The absolute URL of a submodule: a relative one (``../lib.git``) is resolved against
    the superproject's URL, as ``git submodule`` does; an absolute one is returned as is."""
    url = url.strip()
    if not url.startswith(("./", "../")):
        return url
    base = repo_url.strip().rstrip("/")
    if "://" in base:
        parts = urlsplit(base)
        path = posixpath.normpath(posixpath.join(parts.path or "/", url))
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    match = _SCP.match(base)
    if match and not base.startswith(("/", ".")):
        path = posixpath.normpath(posixpath.join(match.group("path") or ".", url))
        user = f"{match.group('user')}@" if match.group("user") else ""
        return f"{user}{match.group('host')}:{path}"
    return posixpath.normpath(posixpath.join(base, url))


def submodule_refusal(url: str, repo_url: str, trusted: bool) -> str:
    """Why a build may not fetch the submodule at ``url`` (already resolved), or ``""``.

    A trusted repository may fetch anything. Otherwise the submodule must be a network URL on
    the same host as the repository's own clone URL: the agent's host is not a proxy into the
    networks it can reach, and its files are not a source of code.
    """
    if trusted:
        return ""
    shown = redact_url(url)
    if is_local_url(url):
        return (
            f"submodule URL {shown} is a local path or a command transport "
            f"({scheme_of(url) or 'path'}); only a trusted repository may use one"
        )
    repo_host = host_of(repo_url)
    if host_of(url) != repo_host or not repo_host:
        return (
            f"submodule URL {shown} is on host {host_of(url)!r}, not the repository's host "
            f"{repo_host or '(none: the repository is cloned from a local path)'!r}; only a "
            "trusted repository may fetch submodules from elsewhere"
        )
    return ""


def without_credentials(url: str) -> str:
    """``url`` with its user name and password removed (``https://host/owner/name.git``), for
    places where the URL must still work, e.g. ``DRONE_REMOTE_URL`` (Drone hands credentials to
    steps through ``netrc``, never in the URL)."""
    return _USERINFO.sub(lambda m: m.group("scheme"), url)


def redact_url(text: str) -> str:
    """``text`` (a URL, an error message, a log line) with the user name and password of every
    URL in it replaced by ``***`` (``https://***@host/owner/name.git``)."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
