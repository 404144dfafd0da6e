"""``runner build``: builds through the server's REST API (``--server``/``--token``)."""

from __future__ import annotations

import time

import click
import requests

DONE = {"success", "failure", "killed", "error", "skipped", "declined"}


def register(group: click.Group) -> None:
    group.add_command(build)


class _Api:
    def __init__(self, server: str, token: str):
        self.base = server.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs):
        try:
            resp = self.session.request(method, self.base + path, timeout=60, **kwargs)
        except requests.RequestException as exc:
            raise click.ClickException(f"cannot reach the server: {exc}") from None
        if resp.status_code >= 400:
            try:
                reason = resp.json().get("error", resp.text)
            except ValueError:
                reason = resp.text
            raise click.ClickException(f"{resp.status_code}: {reason}")
        return resp


@click.group()
@click.option(
    "--server",
    envvar="RUNNER_SERVER",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Server address (RUNNER_SERVER).",
)
@click.option(
    "--token",
    envvar="RUNNER_TOKEN",
    required=True,
    help="API token from `runner user token` (RUNNER_TOKEN).",
)
@click.pass_context
def build(ctx: click.Context, server: str, token: str) -> None:
    """List, inspect, start, restart and cancel builds; print or follow logs."""
    ctx.obj = _Api(server, token)


def _line(item: dict) -> str:
    ref = item.get("tag") or item.get("branch") or item.get("ref") or ""
    title = ((item.get("message") or "").splitlines() or [""])[0]
    return (
        f"#{item['number']:<5} {item['status']:<9} {item['event']:<13} {ref:<20} "
        f"{(item.get('commit') or '')[:10]:<10}  {title}"
    )


@build.command("ls")
@click.argument("repo")
@click.option("--branch")
@click.option("--status")
@click.option("--event")
@click.option("--page", type=int, default=1)
@click.pass_obj
def list_builds(api: _Api, repo: str, branch, status, event, page) -> None:
    """List the builds of REPO, newest first."""
    params = {
        k: v
        for k, v in {"branch": branch, "status": status, "event": event, "page": page}.items()
        if v
    }
    for item in api.call("GET", f"/repos/{repo}/builds", params=params).json():
        click.echo(_line(item))


@build.command("show")
@click.argument("repo")
@click.argument("number", type=int)
@click.pass_obj
def show_build(api: _Api, repo: str, number: int) -> None:
    """Show build NUMBER of REPO with its stages and steps."""
    item = api.call("GET", f"/repos/{repo}/builds/{number}").json()
    click.echo(_line(item))
    if item.get("error"):
        click.echo(f"error: {item['error']}")
    for stage in item["stages"]:
        click.echo(
            f"  stage {stage['number']} {stage['name']}: {stage['status']}"
            + (f" ({stage['error']})" if stage.get("error") else "")
        )
        for step in stage["steps"]:
            click.echo(
                f"    {stage['number']}/{step['number']} {step['name']}: {step['status']}"
                + (f" exit {step['exit_code']}" if step["exit_code"] else "")
            )


@build.command("logs")
@click.argument("repo")
@click.argument("number", type=int)
@click.argument("step", metavar="STAGE/STEP")
@click.option("--follow", "-f", is_flag=True, help="Follow the live stream until the step ends.")
@click.pass_obj
def logs(api: _Api, repo: str, number: int, step: str, follow: bool) -> None:
    """Print the log of STAGE/STEP (numbers, as `runner build show` lists them)."""
    stage_no, _, step_no = step.partition("/")
    path = f"/repos/{repo}/builds/{number}/logs/{int(stage_no)}/{int(step_no or 1)}"
    if not follow:
        for chunk in api.call("GET", path, stream=True).iter_content(65536):
            click.echo(chunk.decode("utf-8", "replace"), nl=False)
        return
    with api.call("GET", path + "/stream", stream=True) as resp:
        for raw in resp.iter_lines(decode_unicode=True):
            if raw.startswith("event: end"):
                return
            if raw.startswith("data: "):
                click.echo(raw[6:])


def _action(name: str, help_text: str):
    @build.command(name, help=help_text)
    @click.argument("repo")
    @click.argument("number", type=int)
    @click.pass_obj
    def command(api: _Api, repo: str, number: int) -> None:
        item = api.call("POST", f"/repos/{repo}/builds/{number}/{name}").json()
        click.echo(_line(item))

    return command


_action("restart", "Start a new build of the same commit and event.")
_action("cancel", "Cancel a pending or running build.")
_action("approve", "Approve a build waiting for approval.")
_action("decline", "Decline a build waiting for approval.")


@build.command("create")
@click.argument("repo")
@click.option("--branch", help="Branch to build (default: the repository's).")
@click.option("--commit", default="", help="Commit to build (default: the branch tip).")
@click.option("--param", "params", multiple=True, help="KEY=VALUE passed to the pipeline.")
@click.option("--wait", is_flag=True, help="Wait until the build ends; exit 1 unless success.")
@click.pass_obj
def create(api: _Api, repo: str, branch, commit, params, wait) -> None:
    """Start a manual (custom event) build of REPO."""
    body = {
        "branch": branch,
        "commit": commit,
        "params": dict(p.split("=", 1) for p in params if "=" in p),
    }
    item = api.call("POST", f"/repos/{repo}/builds", json=body).json()
    click.echo(_line(item))
    while wait and item["status"] not in DONE:
        time.sleep(1)
        item = api.call("GET", f"/repos/{repo}/builds/{item['number']}").json()
    if wait:
        click.echo(_line(item))
        raise SystemExit(0 if item["status"] == "success" else 1)
