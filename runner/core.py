"""Domain objects shared by the store, the server, the agent RPC and the web UI.

Plain dataclasses: the store converts ORM rows into them, so views and the executor never touch
rows or sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner.pipeline.spec import StageSpec

# Statuses of builds, stages and steps.
PENDING = "pending"
RUNNING = "running"
SUCCESS = "success"
FAILURE = "failure"
KILLED = "killed"
ERROR = "error"
SKIPPED = "skipped"
BLOCKED = "blocked"  # waiting for approval
DECLINED = "declined"
WAITING = "waiting"  # on dependencies or a deploy lock

DONE_STATUSES = frozenset({SUCCESS, FAILURE, KILLED, ERROR, SKIPPED, DECLINED})

# Roles per repository, weakest first.
ROLE_READ = "read"
ROLE_WRITE = "write"
ROLE_ADMIN = "admin"
ROLES = (ROLE_READ, ROLE_WRITE, ROLE_ADMIN)

TOKEN_USER = "user"
TOKEN_AGENT = "agent"


@dataclass
class User:
    id: int
    login: str
    is_admin: bool = False
    created: float = 0.0
    session_epoch: int = 0  # a session cookie of an older epoch is refused
    theme: str = ""  # the web UI's colour theme: "" (the system's), "light" or "dark"


@dataclass
class Token:
    id: int
    name: str
    kind: str  # user or agent
    user_id: int | None = None
    agent_id: int | None = None
    revoked: bool = False
    created: float = 0.0
    last_used: float = 0.0


@dataclass
class Repo:
    id: int
    slug: str  # owner/name
    forge: str = "generic"  # github, gitlab, gitea, gogs, generic
    clone_url: str = ""
    default_branch: str = "main"
    webhook_secret: str = ""
    trusted: bool = False
    timeout: int = 3600
    # Days finished builds' logs are kept; 0 follows the server's log_retention_days.
    log_retention_days: int = 0
    pipeline_path: str = ""  # empty: the lookup order of DESIGN.md
    private: bool = False
    active: bool = True
    forge_token: str = ""  # for commit statuses; never returned by the API
    forge_url: str = ""  # API base of the forge, for commit statuses
    generic_hook: bool = False  # the generic JSON webhook may start builds
    fork_privileged: bool = False  # fork pull requests may run allow-listed privileged plugins
    created: float = 0.0

    @property
    def owner(self) -> str:
        return self.slug.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.slug.split("/", 1)[-1]


@dataclass
class Build:
    id: int
    repo_id: int
    number: int
    event: str
    status: str = PENDING
    ref: str = ""
    branch: str = ""
    tag: str = ""
    commit: str = ""
    message: str = ""
    author: str = ""
    target: str = ""  # deploy environment
    parent: int = 0
    error: str = ""
    sender: str = ""
    config_revision: int = 0  # the repository's pipeline configuration revision, from 1
    context: dict[str, Any] = field(default_factory=dict)  # BuildContext.to_dict()
    created: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    stages: list[Stage] = field(default_factory=list)


@dataclass
class Stage:
    id: int
    build_id: int
    number: int
    name: str
    status: str = PENDING
    labels: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    # What the stage runs: stored as JSON, handed out as the compiled spec again.
    spec: StageSpec = field(default_factory=lambda: StageSpec(name=""))
    agent_id: int | None = None
    lease_until: float = 0.0
    attempts: int = 0
    error: str = ""
    created: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    steps: list[Step] = field(default_factory=list)


@dataclass
class Step:
    id: int
    stage_id: int
    number: int
    name: str
    status: str = PENDING
    exit_code: int = 0
    error: str = ""
    started: float = 0.0
    finished: float = 0.0
    log_bytes: int = 0
    log_cut_bytes: int = 0  # bytes dropped from the head by the log size cap


@dataclass
class Secret:
    id: int
    repo_id: int
    name: str
    events: list[str] = field(default_factory=lambda: ["push", "tag", "cron", "custom"])
    images: list[str] = field(default_factory=list)  # empty: any image
    allow_pull_request: bool = False
    environment: str = ""  # empty: every environment
    substitute: bool = False  # ${NAME} in a Drone 0.8 file is replaced (drone --skip-verify)


@dataclass
class Registry:
    """Credentials of a container registry for a repository's step images (Woodpecker's
    repository registries); the password never leaves the store but in a claim."""

    id: int
    repo_id: int
    hostname: str
    username: str
    created: float = 0.0


@dataclass
class Cron:
    id: int
    repo_id: int
    name: str
    schedule: str  # five-field cron expression
    branch: str = ""
    enabled: bool = True
    last_run: float = 0.0


@dataclass
class Agent:
    id: int
    name: str
    labels: dict[str, str] = field(default_factory=dict)  # registered: what it may take
    capacity: int = 1
    version: str = ""
    platform: str = "linux/amd64"
    last_contact: float = 0.0
    running: int = 0
    declared_labels: dict[str, str] = field(default_factory=dict)  # announced, never trusted
    allowed_repos: list[str] = field(default_factory=list)  # slug patterns; empty: any
    allowed_environments: list[str] = field(default_factory=list)  # names; empty: any
    unhealthy: str = ""  # why it cannot run stages now; empty when it can
