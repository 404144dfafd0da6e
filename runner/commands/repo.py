"""``runner repo``: activate repositories and show the webhook to paste into the forge.

Runs on the server's machine, straight on its database (same settings and data directory as
``runner server``). ``runner repo add`` prints the webhook URL and secret once more with
``runner repo show``.
"""

from __future__ import annotations

import click

from runner.errors import RunnerError
from runner.git_urls import redact_url
from runner.settings import load_settings

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


def _settings_and_stores():
    from runner.server.services import open_stores

    settings = load_settings()
    return settings, open_stores(settings)


def webhook_url(settings, slug: str) -> str:
    """The address forges post to for ``slug``."""
    return f"{settings.effective_server_url()}/hook/{slug}"


def _show_webhook(settings, found) -> None:
    click.echo(f"webhook URL:    {webhook_url(settings, found.slug)}")
    click.echo(f"webhook secret: {found.webhook_secret}")
    click.echo(HINTS.get(found.forge, ""))


def _find(stores, slug: str):
    found = stores.repos.find(slug)
    if found is None:
        raise click.ClickException(f"no repository {slug}; see `runner repo ls`")
    return found


@click.group()
def repo() -> None:
    """Activate repositories and show their webhooks."""


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
def add(
    slug,
    forge,
    clone_url,
    default_branch,
    secret,
    trusted,
    pipeline_path,
    forge_url,
    forge_token,
    generic_hook,
) -> None:
    """Activate OWNER/NAME and print the webhook URL and secret to paste into the forge."""
    from runner.server.repo_actions import create_repo

    settings, stores = _settings_and_stores()
    try:
        found = create_repo(
            stores,
            None,
            slug,
            forge=forge,
            clone_url=clone_url,
            default_branch=default_branch,
            webhook_secret=secret,
            trusted=trusted,
            pipeline_path=pipeline_path,
            forge_url=forge_url,
            forge_token=forge_token,
            generic_hook=generic_hook,
        )
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"repository {found.slug} activated ({found.forge})")
    _show_webhook(settings, found)


@repo.command("ls")
def list_repos() -> None:
    """List the repositories with their forge, state and clone URL."""
    _settings, stores = _settings_and_stores()
    for found in stores.repos.list():
        flags = [found.forge, "active" if found.active else "inactive"]
        if found.trusted:
            flags.append("trusted")
        if found.generic_hook:
            flags.append("generic-hook")
        click.echo(f"{found.slug}  {' '.join(flags)}  {redact_url(found.clone_url)}")


@repo.command("show")
@click.argument("slug", metavar="OWNER/NAME")
def show(slug: str) -> None:
    """Show a repository's settings and its webhook URL and secret."""
    settings, stores = _settings_and_stores()
    found = _find(stores, slug)
    click.echo(f"repository:     {found.slug} ({found.forge})")
    click.echo(f"clone URL:      {redact_url(found.clone_url)}")
    click.echo(f"default branch: {found.default_branch}")
    click.echo(f"pipeline path:  {found.pipeline_path or '(lookup order)'}")
    click.echo(f"trusted:        {'yes' if found.trusted else 'no'}")
    click.echo(f"fork plugins:   {'privileged' if found.fork_privileged else 'unprivileged'}")
    click.echo(f"active:         {'yes' if found.active else 'no'}")
    click.echo(f"generic hook:   {'on' if found.generic_hook else 'off'}")
    click.echo(
        f"commit status:  {found.forge_url or '(forge default)'}"
        f"{'' if found.forge_token else ' (no token: not reported)'}"
    )
    _show_webhook(settings, found)


@repo.command("update")
@click.argument("slug", metavar="OWNER/NAME")
@click.option("--clone-url")
@click.option("--default-branch")
@click.option("--pipeline-path")
@click.option("--forge-url")
@click.option("--forge-token")
@click.option("--trusted/--untrusted", default=None)
@click.option(
    "--fork-privileged/--no-fork-privileged",
    default=None,
    help="Let pull requests from forks run the agents' allow-listed plugins as shipped.",
)
@click.option("--active/--inactive", default=None, help="Inactive repositories refuse webhooks.")
@click.option("--generic-hook/--no-generic-hook", default=None, help=GENERIC_HOOK_HELP)
@click.option("--rotate-secret", is_flag=True, help="Generate a new webhook secret.")
def update(slug, rotate_secret, **options) -> None:
    """Change a repository's settings."""
    import secrets as _secrets

    from runner.server.repo_actions import update_repo

    settings, stores = _settings_and_stores()
    found = _find(stores, slug)
    fields = {k: v for k, v in options.items() if v is not None}
    if rotate_secret:
        fields["webhook_secret"] = _secrets.token_hex(20)
    if not fields:
        raise click.ClickException("nothing to change; see `runner repo update --help`")
    try:
        found = update_repo(stores, None, found, fields)
    except RunnerError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"repository {found.slug} updated")
    if rotate_secret:
        _show_webhook(settings, found)


@repo.command("rm")
@click.argument("slug", metavar="OWNER/NAME")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove(slug: str, yes: bool) -> None:
    """Remove a repository with its builds, logs, secrets and cron jobs."""
    _settings, stores = _settings_and_stores()
    found = _find(stores, slug)
    if not yes:
        click.confirm(f"remove {slug} with all its builds and logs?", abort=True)
    stores.repos.delete(found.id)
    click.echo(f"repository {slug} removed")
