"""``runner repo``: activate repositories, show the webhook to paste into the forge, and manage
users' roles on a repository (``runner repo perms``).

Goes through the server's API (``--server``, ``--token``; see ``runner.commands.api_client``).
The webhook URL printed is the one the server reports for itself. ``runner repo add`` prints
the webhook URL and secret, ``runner repo show`` prints them again.
"""

from __future__ import annotations

from typing import Any

import click

from runner.commands.api_client import ApiClient, api_options, client, quoted, repo_path
from runner.core import ROLES

FORGES = ("github", "gitlab", "gitea", "gogs", "generic")

# Where the secret goes in each forge's webhook form.
HINTS = {
    "github": "Settings → Webhooks → Add webhook: Payload URL above, content type "
    "application/json, Secret above; events: pushes and pull requests.",
    "gitlab": "Settings → Webhooks: URL above, Secret token above; triggers: push events, "
    "tag push events, merge request events.",
    "gitea": "Settings → Webhooks → Add webhook → Gitea: target URL above, POST, content type "
    "application/json, Secret above; events: push, pull request.",
    "gogs": "Settings → Webhooks → Add webhook → Gogs: payload URL above, content type "
    "application/json, Secret above; events: push, pull request.",
    "generic": "POST a JSON body to the URL above with the header X-Runner-Signature: "
    "sha256=<hex HMAC-SHA256 of the body keyed with the secret> (see docs/webhooks.md); "
    "the repository needs --generic-hook.",
}
GENERIC_HOOK_HELP = "Accept the generic JSON webhook (X-Runner-Signature); off by default."


def register(group: click.Group) -> None:
    group.add_command(repo)


def _show_webhook(hook: dict[str, Any]) -> None:
    click.echo(f"webhook URL:    {hook['url']}")
    click.echo(f"webhook secret: {hook['secret']}")
    click.echo(HINTS.get(hook["forge"], ""))


def _webhook(api: ApiClient, slug: str) -> dict[str, Any]:
    found: dict[str, Any] = api.json("GET", repo_path(slug) + "/webhook")
    return found


@click.group()
@api_options
def repo() -> None:
    """Activate repositories, show their webhooks, manage users' roles on them."""


@repo.command("add")
@click.argument("slug", metavar="OWNER/NAME")
@click.option("--forge", type=click.Choice(FORGES), default="github", show_default=True)
@click.option("--clone-url", required=True, help="Where the server and agents fetch from.")
@click.option("--default-branch", default="main", show_default=True)
@click.option("--secret", default="", help="Webhook secret; generated when omitted.")
@click.option("--trusted", is_flag=True, help="Allow privileged steps and host volumes.")
@click.option("--pipeline-path", default="", help="Pipeline file or folder (default: lookup).")
@click.option("--forge-url", default="", help="API root for commit statuses.")
@click.option("--forge-token", default="", help="API token for commit statuses.")
@click.option("--generic-hook", is_flag=True, help=GENERIC_HOOK_HELP)
@api_options
def add(
    slug: str,
    forge: str,
    clone_url: str,
    default_branch: str,
    secret: str,
    trusted: bool,
    pipeline_path: str,
    forge_url: str,
    forge_token: str,
    generic_hook: bool,
) -> None:
    """Activate OWNER/NAME and print the webhook URL and secret to paste into the forge."""
    api = client()
    fields: dict[str, Any] = {
        "slug": slug,
        "forge": forge,
        "clone_url": clone_url,
        "default_branch": default_branch,
        "pipeline_path": pipeline_path,
        "forge_url": forge_url,
        "forge_token": forge_token,
    }
    fields = {k: v for k, v in fields.items() if v}
    if trusted:
        fields["trusted"] = True
    if generic_hook:
        fields["generic_hook"] = True
    found = api.json("POST", "/repos", json=fields)
    if secret:
        hook = api.json("PUT", repo_path(found["slug"]) + "/webhook", json={"secret": secret})
    else:
        hook = {"url": found["webhook_url"], "secret": found["webhook_secret"], "forge": forge}
    click.echo(f"repository {found['slug']} activated ({found['forge']})")
    _show_webhook(hook)


@repo.command("ls")
@api_options
def list_repos() -> None:
    """List the repositories with their forge, state and clone URL."""
    for found in client().json("GET", "/repos"):
        flags = [found["forge"], "active" if found["active"] else "inactive"]
        if found.get("trusted"):
            flags.append("trusted")
        if found.get("generic_hook"):
            flags.append("generic-hook")
        click.echo(f"{found['slug']}  {' '.join(flags)}  {found['clone_url']}")


@repo.command("show")
@click.argument("slug", metavar="OWNER/NAME")
@api_options
def show(slug: str) -> None:
    """Show a repository's settings and, to its admins, its webhook URL and secret."""
    api = client()
    found = api.json("GET", repo_path(slug))
    # The webhook's secret is for the repository's admins; others see the settings only.
    hook = _webhook(api, slug) if found.get("role") == "admin" else {}
    click.echo(f"repository:     {found['slug']} ({found['forge']})")
    click.echo(f"clone URL:      {found['clone_url']}")
    click.echo(f"default branch: {found['default_branch']}")
    click.echo(f"pipeline path:  {found.get('pipeline_path') or '(lookup order)'}")
    click.echo(f"trusted:        {'yes' if found.get('trusted') else 'no'}")
    click.echo(
        f"fork plugins:   {'privileged' if found.get('fork_privileged') else 'unprivileged'}"
    )
    click.echo(f"active:         {'yes' if found['active'] else 'no'}")
    click.echo(f"generic hook:   {'on' if found.get('generic_hook') else 'off'}")
    days = found.get("log_retention_days") or 0
    click.echo(f"keeps logs:     {f'{days} days' if days else '(server setting)'}")
    if not hook:
        click.echo(f"commit status:  {found.get('forge_url') or '(forge default)'}")
        return
    click.echo(
        f"commit status:  {found.get('forge_url') or '(forge default)'}"
        f"{'' if hook.get('forge_token_set') else ' (no token: not reported)'}"
    )
    _show_webhook(hook)


@repo.command("update")
@click.argument("slug", metavar="OWNER/NAME")
@click.option("--clone-url")
@click.option("--default-branch")
@click.option("--pipeline-path")
@click.option("--forge-url")
@click.option("--forge-token")
@click.option("--trusted/--untrusted", default=None)
@click.option(
    "--log-retention-days",
    type=int,
    help="Days finished builds' logs are kept; 0 follows the server's setting.",
)
@click.option(
    "--fork-privileged/--no-fork-privileged",
    default=None,
    help="Let pull requests from forks run the agents' allow-listed plugins as shipped.",
)
@click.option("--active/--inactive", default=None, help="Inactive repositories refuse webhooks.")
@click.option("--generic-hook/--no-generic-hook", default=None, help=GENERIC_HOOK_HELP)
@click.option("--rotate-secret", is_flag=True, help="Generate a new webhook secret.")
@api_options
def update(slug: str, rotate_secret: bool, **options: Any) -> None:
    """Change a repository's settings."""
    fields = {k: v for k, v in options.items() if v is not None}
    if not fields and not rotate_secret:
        raise click.ClickException("nothing to change; see `runner repo update --help`")
    api = client()
    if fields:
        slug = api.json("PATCH", repo_path(slug), json=fields)["slug"]
    click.echo(f"repository {slug} updated")
    if rotate_secret:
        _show_webhook(api.json("PUT", repo_path(slug) + "/webhook", json={}))


@repo.command("rm")
@click.argument("slug", metavar="OWNER/NAME")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@api_options
def remove(slug: str, yes: bool) -> None:
    """Remove a repository with its builds, logs, secrets and cron jobs (server admins)."""
    api = client()
    api.json("GET", repo_path(slug))  # a repository that does not exist is said so first
    if not yes:
        click.confirm(f"remove {slug} with all its builds and logs?", abort=True)
    api.call("DELETE", repo_path(slug) + "/purge")
    click.echo(f"repository {slug} removed")


@repo.group("perms")
@api_options
def perms() -> None:
    """List, give and take away users' roles (read, write, admin) on a repository."""


@perms.command("ls")
@click.argument("slug", metavar="OWNER/NAME")
@api_options
def list_perms(slug: str) -> None:
    """List the users with a role on OWNER/NAME, one `LOGIN ROLE` a line (repository admins)."""
    members = client().json("GET", repo_path(slug) + "/perms")
    if not members:
        click.echo(f"no user has a role on {slug}")
    for member in members:
        click.echo(f"{member['login']}\t{member['role']}")


@perms.command("set")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("login")
@click.argument("role", type=click.Choice(ROLES))
@api_options
def set_perm(slug: str, login: str, role: str) -> None:
    """Give LOGIN the ROLE on OWNER/NAME, replacing the role they had."""
    client().json("PUT", f"{repo_path(slug)}/perms/{quoted(login)}", json={"role": role})
    click.echo(f"{login} is {role} on {slug}")


@perms.command("rm")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("login")
@api_options
def remove_perm(slug: str, login: str) -> None:
    """Take LOGIN's role on OWNER/NAME away (server admins keep their access)."""
    client().json("DELETE", f"{repo_path(slug)}/perms/{quoted(login)}")
    click.echo(f"{login} has no role on {slug}")
