"""Helpers of the end-to-end tests on top of :mod:`runner.testing`: the server and agent with
this suite's defaults, GitLab push webhooks and a reader of server-sent events."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import requests

from runner import testing
from runner.testing import LocalRepo, github_push

__all__ = ["AgentProcess", "LocalRepo", "ServerProcess", "github_push", "gitlab_push", "sse_events"]

ADMIN_PASSWORD = "admin-password-e2e"


class ServerProcess(testing.ServerProcess):
    """A `runner server` subprocess with its own data dir, port and (optional) database URL;
    leases of 60 s so that a loaded machine does not requeue a running stage."""

    def __init__(
        self,
        data_dir: Path,
        *,
        database_url: str = "",
        embedded_agent: bool = True,
        capacity: int = 2,
        extra_env: dict[str, str] | None = None,
    ):
        super().__init__(
            data_dir,
            admin_password=ADMIN_PASSWORD,
            embedded_agent=embedded_agent,
            capacity=capacity,
            agent_name=f"e2e-{uuid.uuid4().hex[:8]}",
            lease_seconds=60,
            database_url=database_url,
            extra_env=extra_env,
        )


class AgentProcess(testing.AgentProcess):
    """A `runner agent` subprocess working for ``server`` with a token of capacity 1."""

    def __init__(self, server: ServerProcess, data_dir: Path, name: str = "remote-agent"):
        token = server.cli("user", "agent-token", name, "--capacity", "1").strip()
        super().__init__(server, data_dir, f"{name}-{uuid.uuid4().hex[:6]}", token=token)


def gitlab_push(
    slug: str,
    repo: LocalRepo,
    sha: str,
    secret: str,
    *,
    branch: str = "main",
    message: str = "change",
) -> tuple[dict, bytes]:
    """Headers and body of a GitLab push webhook carrying the secret token."""
    owner, name = slug.split("/")
    payload = {
        "object_kind": "push",
        "event_name": "push",
        "before": "0" * 40,
        "after": sha,
        "ref": f"refs/heads/{branch}",
        "checkout_sha": sha,
        "user_name": "Dev",
        "user_username": "dev",
        "user_email": "dev@example.com",
        "user_avatar": "",
        "project_id": 7,
        "project": {
            "id": 7,
            "name": name,
            "namespace": owner,
            "path_with_namespace": slug,
            "default_branch": "main",
            "web_url": f"https://gitlab.example.com/{slug}",
            "git_http_url": repo.clone_url,
        },
        "commits": [
            {
                "id": sha,
                "message": message,
                "timestamp": "2026-11-22T04:40:00+00:00",
                "url": f"https://gitlab.example.com/{slug}/-/commit/{sha}",
                "author": {"name": "Dev", "email": "dev@example.com"},
                "added": [],
                "modified": [".drone.yml"],
                "removed": [],
            }
        ],
        "total_commits_count": 1,
        "repository": {"name": name, "homepage": f"https://gitlab.example.com/{slug}"},
    }
    headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": secret,
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
    }
    return headers, json.dumps(payload).encode()


def sse_events(resp: requests.Response):
    """Yield ``(event, id, data_lines)`` from a streaming SSE response."""
    event, ident, data = "message", None, []
    for raw in resp.iter_lines(decode_unicode=True):
        if raw is None:
            continue
        if raw == "":
            if data or event != "message":
                yield event, ident, data
            event, ident, data = "message", None, []
            continue
        if raw.startswith(":"):
            continue
        field, _, value = raw.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "id":
            ident = value
        elif field == "data":
            data.append(value)
