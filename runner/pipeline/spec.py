"""The compiled form of a pipeline: the only thing an engine or an executor sees.

A ``StageSpec`` is produced by ``runner.pipeline.compile`` from the YAML model and a
``BuildContext``. It is the one form of a stage from the compiler to the engine: the store
keeps it as JSON (``to_dict``/``from_dict``) and hands it out as a ``StageSpec`` again, the
claim adds its per-claim fields to it (``dataclasses.replace``), and the agent receives it in
a ``runner.pipeline.payload.StagePayload``. ``from_dict`` validates every field against its
type: a malformed spec raises ``PayloadError`` naming the field, never a ``KeyError``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from runner.errors import PayloadError

if TYPE_CHECKING:
    from pydantic import TypeAdapter

T = TypeVar("T")

# Run policies of a step, decided at compile time from `when.status` / Drone's rules.
ON_SUCCESS = "on-success"
ON_FAILURE = "on-failure"
ALWAYS = "always"

# Step kinds.
KIND_CLONE = "clone"
KIND_STEP = "step"
KIND_SERVICE = "service"

# Exit code by which a step says "skip the rest of the stage, and that is a success" (Drone).
EXIT_SKIP = 78


@dataclass
class BuildContext:
    """What a build is about: the event, the commit and the repository. The one event model.

    A forge's webhook parser fills what the delivery says (``repo`` and ``remote_url`` as the
    forge spells them); the triggerer completes it with what the server knows (the
    repository's slug and clone URL, the build number, the server's address, trust) before
    compiling. It is the input of condition evaluation and of the step environment
    (``DRONE_*``/``CI_*``), and its ``to_dict`` is the build's stored context.

    ``commit`` may be empty (the generic webhook with only a ref, Gogs pull requests): the
    triggerer then resolves ``ref`` through the repository mirror. ``changed_files`` is None
    when unknown (``paths`` conditions then match).
    """

    repo: str = "local/repo"  # owner/name
    event: str = "push"  # push, tag, pull_request, cron, custom, promote, rollback
    branch: str = "main"
    ref: str = ""
    commit: str = ""
    before: str = ""
    tag: str = ""
    message: str = ""
    author: str = ""
    author_email: str = ""
    author_avatar: str = ""
    sender: str = ""  # who made the event happen (forge user, ``cron``, the API's user)
    remote_url: str = ""
    link: str = ""
    default_branch: str = "main"
    target: str = ""  # deploy target / environment
    cron: str = ""  # cron job name, for event=cron
    action: str = ""  # pull request action (opened, synchronize...)
    pull_request: int = 0
    source_branch: str = ""
    target_branch: str = ""
    build_number: int = 1
    parent: int = 0  # build restarted, promoted or rolled back from
    # The repository's pipeline configuration revision (runner.store.config_revisions); 0 when
    # the build has none (a pull request's new file, ``runner exec`` without the option).
    config_revision: int = 0
    instance: str = "localhost"
    server_url: str = "http://localhost"
    changed_files: list[str] | None = None  # None: unknown, `paths` conditions then match
    trusted: bool = False
    fork: bool = False
    private: bool = False
    created: int = 0  # unix time
    # Of the delivery, not of the build, so never in ``to_dict``: the forge's delivery id
    # (replays are recognised by it) and extra variables (generic webhook, API), which reach
    # the steps through the compiled environment.
    delivery_id: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The first line of the message (a commit's subject, a pull request's title)."""
        stripped = self.message.strip()
        return stripped.splitlines()[0] if stripped else ""

    def skip_reason(self) -> str:
        """Why this event should not build, or ``""``: ``[skip ci]``/``[ci skip]`` (any case)
        in the message of a push or pull request; tags, crons and manual builds always build."""
        if self.event not in _SKIPPABLE_EVENTS:
            return ""
        match = _SKIP_MARKERS.search(self.message)
        return f"{match.group(0)} in the commit message" if match else ""

    def to_dict(self) -> dict[str, Any]:
        """The build's stored context: every field but those of the delivery."""
        data = dataclasses.asdict(self)
        for name in _NOT_STORED:
            del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildContext:
        """The context of ``to_dict``'s output; unknown keys are ignored, missing ones default."""
        names = {f.name for f in dataclasses.fields(cls)} - _NOT_STORED
        return cls(**{k: v for k, v in data.items() if k in names})


# The delivery's id names one webhook call; the parameters stay with the build, so a restart
# or a re-run of its failed stages runs with what the first run had.
_NOT_STORED = frozenset({"delivery_id"})
_SKIP_MARKERS = re.compile(r"\[(skip ci|ci skip)\]", re.IGNORECASE)
_SKIPPABLE_EVENTS = ("push", "pull_request")


@dataclass
class SecretRef:
    """An environment variable of a step whose value is the secret ``name``.

    With a ``path`` (keys and list indexes), the secret goes at that place of the variable's
    JSON instead (a ``from_secret`` nested in a plugin setting: ``runner.pipeline.
    plugin_settings``). With ``parts`` (text, secret name, text, ...: a Drone 0.8 secret
    substituted into the file, ``runner.pipeline.secret_subst``) the value is that text with
    each secret's value, and ``name`` is the first of them."""

    env: str
    name: str
    path: list[str | int] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)


@dataclass
class Mount:
    """A volume of a step.

    ``kind`` is ``workspace`` (the stage workspace volume), ``temp`` (a volume living as long as
    the stage), ``cache`` (a named volume kept across builds, keyed by repository), or ``host``
    (a host path; trusted only).
    """

    kind: str
    source: str  # volume name within the stage, cache key, or host path
    target: str  # path in the container
    read_only: bool = False


@dataclass
class StepSpec:
    """One container of a stage: a clone, a step or a service."""

    name: str
    image: str
    kind: str = KIND_STEP
    commands: list[str] = field(default_factory=list)  # run as one `set -e` shell script
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    environment: dict[str, str] = field(default_factory=dict)
    secrets: list[SecretRef] = field(default_factory=list)
    working_dir: str = ""
    mounts: list[Mount] = field(default_factory=list)
    privileged: bool = False
    network_mode: str = ""
    pull: str = "if-not-exists"  # always, never, if-not-exists
    detach: bool = False
    depends_on: list[str] = field(default_factory=list)
    run_policy: str = ON_SUCCESS
    failure_ignored: bool = False
    timeout: int = 0  # seconds, 0: only the stage timeout applies
    user: str = ""
    shm_size: int = 0
    dns: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    # Why the step was marked privileged (socket, host volume, privileged flag): for the lint
    # trust rule and for error messages.
    needs_trust: list[str] = field(default_factory=list)
    # Its ``when`` (or its pipeline's ``trigger``) selects it for the build's deploy target
    # (``When.targets``): a deploy step of that environment. A promote or rollback with no
    # such step is refused (it would deploy nothing).
    targets_environment: bool = False


@dataclass
class CloneSpec:
    """How the workspace is filled before the steps run."""

    disable: bool = False
    depth: int = 0  # 0: full history
    tags: bool = False
    submodules: bool = False
    skip_verify: bool = False


@dataclass
class StageSpec:
    """One pipeline document compiled for one build: what one agent runs."""

    name: str
    number: int = 1
    kind: str = "pipeline"
    type: str = "docker"
    labels: dict[str, str] = field(default_factory=dict)  # agent labels the stage requires
    depends_on: list[str] = field(default_factory=list)
    run_policy: str = ON_SUCCESS  # from trigger.status
    platform: str = "linux/amd64"
    workspace: str = "/drone/src"
    clone: CloneSpec = field(default_factory=CloneSpec)
    steps: list[StepSpec] = field(default_factory=list)
    services: list[StepSpec] = field(default_factory=list)
    temp_volumes: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    timeout: int = 3600  # seconds
    trusted: bool = False
    # The build's trust class (runner.pipeline.trust): trusted, own or fork; caches are kept
    # apart by it. ``fork_privileged``: a fork may run allow-listed plugins as shipped.
    trust: str = "own"
    fork_privileged: bool = False
    repo: str = ""  # for cache keys and resource labels
    # Names of the secrets holding Docker config JSON that the stage's images are pulled
    # with (Drone's image_pull_secrets): names only; the claim resolves them.
    pull_secrets: list[str] = field(default_factory=list)
    matrix: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (plain dicts, lists, text and numbers) stored and sent."""
        result: dict[str, Any] = _adapter(StageSpec).dump_python(self)
        return result

    @classmethod
    def from_dict(cls, data: Any) -> StageSpec:
        """The spec of ``to_dict``'s form, every field checked against its type; keys no field
        has are ignored (specs stored by another version). Raises ``PayloadError``."""
        return decode(StageSpec, data, "stage spec")


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    # Built on first use: the compile workers never decode and need not import pydantic.
    found = _ADAPTERS.get(cls)
    if found is None:
        from pydantic import TypeAdapter

        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


def encode_json(value: Any) -> bytes:
    """The dataclass ``value`` as JSON text, in the form ``decode`` reads back."""
    data: bytes = _adapter(type(value)).dump_json(value)
    return data


def decode(cls: type[T], data: Any, what: str, *, strict: bool = False) -> T:
    """``data`` (parsed JSON; or JSON text and bytes with ``strict``) read into the dataclass
    ``cls``, each field checked against its type (``strict``: no conversion at all, not even
    "1" to 1). Raises ``PayloadError`` naming ``what`` and every wrong field."""
    from pydantic import ValidationError

    adapter: TypeAdapter[T] = _adapter(cls)
    try:
        if isinstance(data, str | bytes):
            return adapter.validate_json(data, strict=strict)
        return adapter.validate_python(data, strict=strict)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(top)'}: {error['msg']}"
            for error in exc.errors(include_url=False)[:10]
        )
        raise PayloadError(f"{what} is malformed: {problems}") from None


@dataclass
class StepResult:
    """How a step ended. ``status`` is one of success, failure, skipped, killed, error."""

    name: str
    status: str
    exit_code: int = 0
    started: float = 0.0
    finished: float = 0.0
    error: str = ""
    # What the step wrote to its deploy report file (``runner.deploy_report``), raw; b"": none.
    report: bytes = b""
