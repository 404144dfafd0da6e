"""Real processes for the agent acceptance tests, on top of :mod:`runner.testing`: a `runner
server` without its embedded agent whose calls default to the admin token, `runner agent`
processes with their own data directories, a local git 'forge', and :class:`Fleet`, which holds
them together for one test and stops them all at its end.

Every container the agents start carries the test label (``RUNNER_AGENT_ENGINE_LABELS``), so
the session's ``docker_client`` fixture removes whatever a failed test left.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from runner import testing
from runner.forges.generic import signature
from runner.testing import LocalRepo, free_port

__all__ = [
    "ADMIN_PASSWORD",
    "DONE",
    "AgentProcess",
    "Fleet",
    "Forge",
    "Server",
    "add_repo",
    "agent_containers",
    "agent_ids",
    "free_port",
    "pipeline",
    "SLUG",
]

ADMIN_PASSWORD = "admin-password-agents"
DONE = ("success", "failure", "killed", "error", "skipped", "declined")
SLUG = "acme/app"


class Server(testing.ServerProcess):
    """A `runner server` process without embedded agent on a fixed port (kept across restarts)
    and data directory. ``token`` arguments default to an admin token; ``cli`` output is
    stripped."""

    def __init__(self, data_dir: Path, *, lease_seconds: int = 30, policy: str = "requeue"):
        super().__init__(
            data_dir,
            admin_password=ADMIN_PASSWORD,
            embedded_agent=False,
            lease_seconds=lease_seconds,
            extra_env={"RUNNER_LOST_STAGE_POLICY": policy},
        )
        self._admin = ""

    def cli(self, *args: str) -> str:
        """Run ``runner ARGS`` against this server's data directory; its stripped output."""
        return super().cli(*args).strip()

    @property
    def admin(self) -> str:
        """An admin token, made on first use."""
        if not self._admin:
            self._admin = self.token("admin")
        return self._admin

    def user(self, login: str) -> str:
        """A token of a new user ``login``."""
        self.cli("user", "add", login, "--password", "password-of-" + login)
        return self.token(login)

    def api(self, method: str, path: str, token: str | None = None, **kwargs):
        """``METHOD /api/v1PATH`` as ``token`` (default: admin)."""
        return super().api(method, path, token or self.admin, **kwargs)

    def ok(self, method: str, path: str, token: str | None = None, **kwargs):
        """The JSON answer of an API call that must succeed."""
        resp = self.api(method, path, token, **kwargs)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def hook(self, slug: str, secret: str, payload: dict) -> dict:
        """Deliver a signed generic-forge webhook; the server's answer (with the build).

        The body gets a fresh ``delivery`` unless it has one: the server refuses a signed body
        it has seen before."""
        body = json.dumps({"delivery": uuid.uuid4().hex, **payload}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Runner-Signature": signature(body, secret),
            "X-Runner-Delivery": uuid.uuid4().hex,
        }
        resp = self.post_hook(slug, headers, body)
        assert resp.status_code < 300, f"hook: {resp.status_code} {resp.text}"
        return resp.json()

    def build(self, slug: str, number: int, token: str | None = None) -> dict:
        """Build ``number`` of ``slug``."""
        return self.ok("GET", f"/repos/{slug}/builds/{number}", token)

    def wait(self, slug: str, number: int, until, timeout: float = 120, what: str = "") -> dict:
        """Poll build ``number`` until ``until(build)``; the build then."""
        return self.wait_build(slug, number, self.admin, until, timeout, what)

    def wait_done(self, slug: str, number: int, timeout: float = 120) -> dict:
        """Poll build ``number`` until it is over; the build then."""
        return self.wait(slug, number, lambda b: b["status"] in DONE, timeout, "finished")

    def step_log(self, slug: str, number: int, stage: int, step: int) -> str:
        """The stored log of a step."""
        resp = self.api("GET", f"/repos/{slug}/builds/{number}/logs/{stage}/{step}")
        assert resp.status_code == 200, resp.text
        return resp.text

    def agent_token(self, name: str) -> str:
        """A new agent token named ``name``."""
        return self.cli("user", "agent-token", name)


class AgentProcess(testing.AgentProcess):
    """A `runner agent` process in ``root/agent-NAME`` (mirrors and log) with its own token."""

    def __init__(
        self,
        server: Server,
        root: Path,
        name: str,
        *,
        labels: str = "",
        capacity: int = 1,
        extra_env: dict[str, str] | None = None,
    ):
        super().__init__(
            server,
            root / f"agent-{name}",
            name,
            labels=labels,
            capacity=capacity,
            extra_env=extra_env,
        )


class Forge(LocalRepo):
    """A bare repository the server and agents fetch from, and a working copy pushing to it."""

    @property
    def url(self) -> str:
        """The ``file://`` clone URL."""
        return self.clone_url

    def push(self, files: dict[str, str], branch: str = "main", tag: str = "") -> str:
        """Commit ``files`` and push to ``branch`` (and ``tag``); the commit's sha."""
        return self.commit(files, f"change on {branch}", branch, tag)


def add_repo(server: Server, forge: Forge, slug: str = SLUG) -> dict:
    """Activate ``slug`` as a generic-forge repository; returns it with its webhook secret."""
    return server.ok(
        "POST",
        "/repos",
        json={"slug": slug, "forge": "generic", "clone_url": forge.url, "generic_hook": True},
    )


def agent_ids(server: Server) -> dict[str, int]:
    """Agent ids by name."""
    return {a["name"]: a["id"] for a in server.ok("GET", "/agents")}


def agent_containers(docker_client, agent_name: str) -> list:
    """Ids of the containers of ``agent_name`` still on the engine (no inspect: no race)."""
    flt = {"label": f"pipeline-runner.agent={agent_name}"}
    return docker_client.api.containers(all=True, filters=flt, quiet=True)


def pipeline(name: str, command: str, *, step: str = "") -> str:
    """A pipeline ``name`` without clone: one busybox step (``step``, default ``name``)
    running the shell ``command``."""
    return (
        f"kind: pipeline\nname: {name}\nclone:\n  disable: true\nsteps:\n"
        f"- name: {step or name}\n  image: runner-test/busybox\n  commands:\n  - {command}\n"
    )


class Fleet:
    """A started :class:`Server` (options as for it), a :class:`Forge` with repository ``SLUG``
    and the agents started through :meth:`agent`. Use as a context manager: at its end every
    agent and the server are stopped, whatever happened."""

    def __init__(self, root: Path, **server_options):
        self.root = root
        self.server = Server(root / "server", **server_options).start()
        self.agents: list[AgentProcess] = []
        try:
            self.forge = Forge(root / "forge")
            self.repo = add_repo(self.server, self.forge)
        except BaseException:
            self.server.stop()
            raise

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc) -> None:
        for agent in self.agents:
            agent.stop()
        self.server.stop()

    def agent(self, name: str, **options) -> AgentProcess:
        """Start an agent (options as for :class:`AgentProcess`), stopped at the end."""
        agent = AgentProcess(self.server, self.root, name, **options).start()
        self.agents.append(agent)
        return agent

    def trigger(self, sha: str, ref: str = "refs/heads/main") -> int:
        """Send the repository's webhook for ``sha`` on ``ref``; the new build's number."""
        made = self.server.hook(SLUG, self.repo["webhook_secret"], {"ref": ref, "commit": sha})
        return made["build"]["number"]

    def wait_for_output(self, number: int, text: str, what: str) -> dict:
        """Wait until build ``number``'s first stage runs and its first step's log holds
        ``text``; the build then."""

        def printed(build: dict) -> bool:
            stage = build["stages"][0] if build["stages"] else {}
            if stage.get("status") != "running":
                return False
            return text in self.server.step_log(SLUG, number, stage["number"], 1)

        return self.server.wait(SLUG, number, printed, what=what)
