"""A repository's webhook as its admin sees it, a new webhook secret, and removing a repository
with its history (what ``runner repo show|update --rotate-secret|rm`` ask for).

- ``GET /repos/<o>/<n>/webhook`` (repository admin): ``{"url", "secret", "forge",
  "forge_token_set"}``; ``url`` is the address this server tells forges to call, from its own
  settings (``RUNNER_SERVER_URL``), so a client never has to guess it.
- ``PUT /repos/<o>/<n>/webhook`` ``{"secret": "..."}`` (repository admin): set the webhook
  secret, or generate a new one when ``secret`` is absent or empty; answers like ``GET``.
- ``DELETE /repos/<o>/<n>/purge`` (server admin): remove the repository with its builds, logs,
  secrets and cron jobs (``DELETE /repos/<o>/<n>`` only deactivates it).

Each change is recorded in the audit log under ``repo:<owner>/<name>``.
"""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from runner.core import ROLE_ADMIN, Repo
from runner.server.api import api_bp
from runner.server.api.common import body, repo_for
from runner.server.auth import require_admin, require_user
from runner.server.services import current_services
from runner.services.repos import purge_repo, set_webhook_secret


def _webhook_json(repo: Repo) -> ResponseReturnValue:
    server_url = current_services().settings.effective_server_url()
    return jsonify(
        {
            "url": f"{server_url}/hook/{repo.slug}",
            "secret": repo.webhook_secret,
            "forge": repo.forge,
            "forge_token_set": bool(repo.forge_token),
        }
    )


@api_bp.get("/repos/<owner>/<name>/webhook")
def show_repo_webhook(owner: str, name: str) -> ResponseReturnValue:
    return _webhook_json(repo_for(owner, name, ROLE_ADMIN))


@api_bp.put("/repos/<owner>/<name>/webhook")
def set_repo_webhook_secret(owner: str, name: str) -> ResponseReturnValue:
    repo = repo_for(owner, name, ROLE_ADMIN)
    stores = current_services().stores
    return _webhook_json(set_webhook_secret(stores, require_user(), repo, body().get("secret")))


@api_bp.delete("/repos/<owner>/<name>/purge")
def purge_repo_with_history(owner: str, name: str) -> ResponseReturnValue:
    admin = require_admin()
    repo = repo_for(owner, name, ROLE_ADMIN)
    purge_repo(current_services().stores, admin, repo)
    return jsonify({"ok": True})
