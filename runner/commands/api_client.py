"""The CLI's one way to the server: its REST API, with the server address and a token.

Every server command (``repo``, ``secret``, ``cron``, ``env``, ``user``, ``build``, ``agent``'s
admin subcommands) takes ``--server`` and ``--token`` through :func:`api_options` and calls
:func:`client` for an :class:`ApiClient`. Where each comes from, first found wins:

- server: ``--server`` of the subcommand, of its group, ``RUNNER_SERVER``, the server of the
  saved login (``runner login``), ``http://127.0.0.1:<default port>``;
- token: ``--token``, ``RUNNER_TOKEN``, the saved login's token when it was made for that very
  server (a token is never sent to another server than the one that issued it).

The saved login is ``login.json`` (mode 0600) in ``$RUNNER_CONFIG_DIR``, or
``$XDG_CONFIG_HOME/pipeline-runner``, or ``~/.config/pipeline-runner``. Nothing else is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import click
import requests

from runner.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

# Where the options of one invocation are gathered: ``ctx.meta`` is shared by the whole chain.
_META_KEY = "runner.api"
LOGIN_FILE = "login.json"
TIMEOUT_SECONDS = 60


def default_server() -> str:
    """The address of a server started with the default settings on this machine."""
    return f"http://127.0.0.1:{Settings.port}"


def config_dir() -> Path:
    """The folder of the saved login (not created here)."""
    given = os.environ.get("RUNNER_CONFIG_DIR")
    if given:
        return Path(given).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "pipeline-runner"


def login_path() -> Path:
    """The file ``runner login`` writes and ``runner logout`` deletes."""
    return config_dir() / LOGIN_FILE


def saved_login() -> dict[str, Any]:
    """The saved login (``server``, ``token``, ``login``, ``token_id``), or ``{}``."""
    try:
        data = json.loads(login_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_login(data: dict[str, Any]) -> Path:
    """Write the login file readable by its owner only (0600, its folder 0700); its path."""
    path = login_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # A file that existed keeps its mode through O_CREAT: set it in any case.
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return path


def same_server(a: str, b: str) -> bool:
    """Whether two server addresses are the same (trailing slashes aside)."""
    return a.rstrip("/") == b.rstrip("/")


class ApiClient:
    """Calls to ``<server>/api/v1``; every failure becomes a ``click.ClickException`` (exit 1)
    saying what went wrong: the server's own message for a 4xx or 5xx, a plain sentence when
    the server cannot be reached."""

    def __init__(self, server: str, token: str = "", *, login_hint: bool = True):
        self.server = server.rstrip("/")
        # A 401 says how to log in, except to `runner login` itself.
        self.login_hint = login_hint
        self.base = self.server + "/api/v1"
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``METHOD /api/v1PATH``; the response when its status is below 400."""
        try:
            resp = self.session.request(method, self.base + path, timeout=TIMEOUT_SECONDS, **kwargs)
        except requests.ConnectionError:
            raise click.ClickException(
                f"cannot reach the server at {self.server}: connection refused or no route; "
                "is `runner server` running there? Point --server or RUNNER_SERVER at it"
            ) from None
        except requests.RequestException as exc:
            raise click.ClickException(f"cannot reach the server at {self.server}: {exc}") from None
        if resp.status_code >= 400:
            raise click.ClickException(error_text(resp, login_hint=self.login_hint))
        return resp

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of ``call``."""
        return self.call(method, path, **kwargs).json()


def error_text(resp: requests.Response, *, login_hint: bool = True) -> str:
    """``STATUS: the server's message`` of a refused call, with what to do for a 401."""
    try:
        data = resp.json()
        reason = data.get("error", resp.text) if isinstance(data, dict) else resp.text
    except ValueError:
        reason = resp.text.strip() or resp.reason
    text = f"{resp.status_code}: {reason}"
    if resp.status_code == 401 and login_hint:
        text += " (log in with `runner login`, or pass --token / RUNNER_TOKEN)"
    return text


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and param.name:
        # Later (inner) options overwrite earlier ones: a subcommand's --server wins.
        ctx.meta.setdefault(_META_KEY, {})[param.name] = value
    return value


def api_options(func: F) -> F:
    """Add ``--server`` and ``--token`` to a command or group; read them with :func:`client`."""
    func = click.option(
        "--token",
        callback=_remember,
        expose_value=False,
        help="API token (RUNNER_TOKEN; default: the one `runner login` saved for the server).",
    )(func)
    func = click.option(
        "--server",
        callback=_remember,
        expose_value=False,
        help="Server address (RUNNER_SERVER; default: the logged-in one, else "
        f"{default_server()}).",
    )(func)
    return func


def given_options(ctx: click.Context) -> dict[str, str]:
    """The ``--server``/``--token`` values given anywhere on this command line."""
    found: dict[str, str] = ctx.meta.get(_META_KEY, {})
    return found


def remember(ctx: click.Context, *, server: str | None, token: str | None) -> None:
    """Record a server and token given by other options (``runner agent --server``)."""
    for name, value in (("server", server), ("token", token)):
        if value:
            ctx.meta.setdefault(_META_KEY, {})[name] = value


def resolve_server(ctx: click.Context) -> str:
    """The server address this command talks to (see the module's docstring)."""
    given = given_options(ctx)
    return (
        given.get("server")
        or os.environ.get("RUNNER_SERVER")
        or saved_login().get("server")
        or default_server()
    ).rstrip("/")


def client(ctx: click.Context | None = None) -> ApiClient:
    """The API client of the current command; ``UsageError`` when no token is found."""
    ctx = ctx or click.get_current_context()
    server = resolve_server(ctx)
    token = given_options(ctx).get("token") or os.environ.get("RUNNER_TOKEN") or ""
    if not token:
        saved = saved_login()
        if saved.get("token") and same_server(str(saved.get("server", "")), server):
            token = str(saved["token"])
    if not token:
        raise click.UsageError(
            f"no API token for {server}: run `runner login --server {server}`, or pass --token "
            "or set RUNNER_TOKEN"
        )
    return ApiClient(server, token)


def repo_path(slug: str) -> str:
    """``/repos/OWNER/NAME`` of a repository slug, each part quoted for the URL."""
    return "/repos/" + quote(slug.strip("/"), safe="/")


def quoted(part: str) -> str:
    """One path segment (a login, a secret or cron name) quoted for the URL."""
    return quote(part, safe="")
