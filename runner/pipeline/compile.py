"""Compile one model stage for one build into the ``StageSpec`` the engine runs.

Pure: the model, the build context and the agent globals in, a JSON-serialisable spec out.
Steps whose ``when`` (status aside) does not match the build are left out of the spec; a
dependency on a left-out step is replaced by that step's own dependencies, so the order the
user wrote still holds. See docs/pipeline.md ("Compiled output") for the whole contract.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from runner.git_urls import host_of
from runner.pipeline.environ import build_environment
from runner.pipeline.model import DRONE, DRONE08, WOODPECKER, Stage, Step
from runner.pipeline.plugin_settings import plugin_variables
from runner.pipeline.spec import (
    ALWAYS,
    KIND_CLONE,
    KIND_SERVICE,
    KIND_STEP,
    ON_FAILURE,
    ON_SUCCESS,
    BuildContext,
    CloneSpec,
    Mount,
    SecretRef,
    StageSpec,
    StepSpec,
)
from runner.pipeline.trust import TRUSTED, privileged_by_default, privileges, trust_class

DEFAULT_WORKSPACE = "/drone/src"
DEFAULT_CACHE_KEY = "default"
# Where each dialect's workspace lives when the file does not say (``workspace_of``).
WORKSPACE_BASES = {DRONE: "/drone", DRONE08: "/drone", WOODPECKER: "/woodpecker"}


def workspace_of(stage: Stage, ctx: BuildContext | None = None) -> str:
    """The workspace path: ``workspace.base`` + ``workspace.path`` (an absolute ``path`` is
    taken as it is), each defaulting as the stage's own system does.

    - Drone 1.x: ``/drone/src`` (docs.drone.io, pipeline/docker/syntax/workspace).
    - Drone 0.8: ``/drone/src/<host>/<owner>/<name>`` (its server's procBuilder.Build compiles
      with ``compiler.WithWorkspaceFromURL("/drone", repo.Link)``; cncd/pipeline
      frontend/yaml/compiler/option.go joins ``src``, the URL's host and path).
    - Woodpecker: ``/woodpecker/src/<host>/<owner>/<name>`` (woodpecker-ci/woodpecker
      server/pipeline/items.go passes ``compiler.DefaultWorkspaceBase``, ``/woodpecker``, and
      the forge URL to the same option).

    The host is the one of the repository's clone URL (``ctx.remote_url``), dropped when it has
    none (a local path); ``<owner>/<name>`` is ``ctx.repo``.
    """
    base, path = stage.workspace_base, stage.workspace_path
    if path.startswith("/"):
        return path
    if stage.dialect == DRONE:
        if not base and not path:
            return DEFAULT_WORKSPACE
        return posixpath.normpath(posixpath.join(base or "/drone", path or "src"))
    if not path:
        host = host_of(ctx.remote_url) if ctx is not None else ""
        repo = ctx.repo if ctx is not None else ""
        path = posixpath.join("src", host, repo)
    return posixpath.normpath(posixpath.join(base or WORKSPACE_BASES[stage.dialect], path))


def run_policy(statuses: set[str] | list[str]) -> str:
    """success → on-success, failure → on-failure, both → always."""
    statuses = set(statuses)
    if {"success", "failure"} <= statuses:
        return ALWAYS
    if "failure" in statuses:
        return ON_FAILURE
    return ON_SUCCESS


def default_image(step: Step, stage: Stage) -> str:
    """Drone 0.8 (and Woodpecker's legacy form) ran a step without image as the plugin
    ``plugins/<name>``; the newer dialects need an image."""
    if step.image or not stage.legacy:
        return step.image
    return f"plugins/{step.name}"


def host_path(source: str, stage: Stage) -> str | None:
    """The host path a volume source names, or None for a stage-local volume."""
    if source.startswith("/"):
        return source
    declared = stage.volumes.get(source)
    if declared and "host" in declared:
        host: str | None = declared["host"]
        return host
    return None


def compile_stage(
    stage: Stage,
    ctx: BuildContext,
    *,
    number: int = 1,
    environ: dict[str, str] | None = None,
    trusted: bool = False,
    fork_privileged: bool = False,
    privileged_images: Sequence[str] = (),
) -> StageSpec:
    """Compile ``stage`` for the build ``ctx``; ``depends_on`` is left for the caller to
    resolve (it needs the other stages).

    ``privileged_images``: the agents' privileged list; a step of one of them run as shipped
    is privileged without asking (``runner.pipeline.trust.privileged_by_default``).

    ``trusted`` is the repository's mark; with ``ctx.fork`` it decides the stage's trust
    class (``runner.pipeline.trust.trust_class``).
    ``fork_privileged`` is the repository's setting for forks' allow-listed plugins.
    """
    trust = trust_class(repo_trusted=trusted, fork=ctx.fork)
    spec = StageSpec(
        name=stage.name,
        number=number,
        kind=stage.kind,
        type=stage.type,
        labels=dict(stage.labels),
        run_policy=run_policy(stage.run_policy_statuses),
        platform=stage.platform or "linux/amd64",
        workspace=workspace_of(stage, ctx),
        clone=CloneSpec(
            disable=stage.clone_disable,
            depth=stage.clone_depth,
            tags=stage.clone_tags,
            submodules=stage.clone_submodules,
            skip_verify=stage.clone_skip_verify,
        ),
        environment={k: v for k, v in stage.environment.items() if isinstance(v, str)},
        trusted=trust == TRUSTED,
        trust=trust,
        fork_privileged=fork_privileged,
        repo=ctx.repo,
        pull_secrets=list(stage.pull_secrets),
        matrix=dict(stage.matrix),
    )
    build_env = build_environment(ctx, spec)
    condition_env = {**build_env, **spec.environment}
    # A pipeline whose trigger names the target makes each of its steps a deploy step.
    stage_targets = stage.trigger.targets(ctx, {**build_env, **stage.matrix}, stage.matrix)
    if not stage.clone_disable:
        spec.steps.append(
            StepSpec(name="clone", image="", kind=KIND_CLONE, working_dir=spec.workspace)
        )
    kept: list[tuple[Step, StepSpec]] = []
    own_env: dict[int, dict[str, str]] = {}
    dropped: dict[str, list[str]] = {}
    for step in stage.steps:
        statuses = step.when.statuses(ctx, condition_env, stage.matrix)
        if not statuses:
            dropped[step.name] = list(step.depends_on or ([] if stage.clone_disable else ["clone"]))
            continue
        step_spec, step_env = _compile_step(step, stage, spec, environ, KIND_STEP)
        step_spec.run_policy = run_policy(statuses)
        step_spec.targets_environment = stage_targets or step.when.targets(
            ctx, condition_env, stage.matrix
        )
        if privileged_by_default(
            step_spec,
            trust=trust,
            privileged_images=privileged_images,
            fork_privileged=fork_privileged,
        ):
            step_spec.privileged = True
            step_spec.needs_trust = privileges(step_spec)
        own_env[id(step_spec)] = step_env
        kept.append((step, step_spec))
    _order(stage, spec, kept, dropped)
    for _, step_spec in kept:
        _add_step_variables(step_spec, own_env[id(step_spec)], ctx, spec, len(spec.steps) + 1)
        spec.steps.append(step_spec)
    for service in stage.services:
        if not service.when.statuses(ctx, condition_env, stage.matrix):
            continue
        service_spec, service_env = _compile_step(service, stage, spec, environ, KIND_SERVICE)
        _add_step_variables(service_spec, service_env, ctx, spec, 0)
        spec.services.append(service_spec)
    for volume in _temp_volumes(spec):
        if volume not in spec.temp_volumes:
            spec.temp_volumes.append(volume)
    if spec.steps and spec.steps[0].kind == KIND_CLONE:
        _add_step_variables(spec.steps[0], {}, ctx, spec, 1)
    _unique_step_names(spec)
    return spec


def set_stage_dependencies(spec: StageSpec, depends_on: list[str]) -> None:
    """Set the stage's resolved dependencies, known only once every stage of the build is
    compiled, and ``DRONE_STAGE_DEPENDS_ON`` with them in each step (runner-go's environ
    joins the stage's ``DependsOn`` with commas)."""
    spec.depends_on = depends_on
    for step in [*spec.services, *spec.steps]:
        if "DRONE_STAGE_DEPENDS_ON" in step.environment:
            step.environment["DRONE_STAGE_DEPENDS_ON"] = ",".join(depends_on)


def _unique_step_names(spec: StageSpec) -> None:
    """Give a step that shares its name with a service or an earlier step (Woodpecker allows
    both when no ``depends_on`` is used) a name of its own, ``build-2`` (``-3``...), as a step
    key written twice in a map gets (``parse_maps``), so the engine, the logs and the build
    page tell them apart; services keep theirs (their host names), and
    ``CI_STEP_NAME``/``DRONE_STEP_NAME`` keep the name as written."""
    taken = {service.name for service in spec.services}
    for step in spec.steps:
        name, number = step.name, 2
        while name in taken:
            name, number = f"{step.name}-{number}", number + 1
        step.name = name
        taken.add(name)


def _compile_step(
    step: Step,
    stage: Stage,
    spec: StageSpec,
    environ: dict[str, str] | None,
    kind: str,
) -> tuple[StepSpec, dict[str, str]]:
    """The step without its system variables, and its own environment (step
    ``environment`` and ``PLUGIN_*``), which goes after them."""
    out = StepSpec(
        name=step.name,
        image=default_image(step, stage),
        kind=kind,
        commands=list(step.commands),
        entrypoint=step.entrypoint,
        command=step.command,
        privileged=step.privileged,
        network_mode=step.network_mode,
        pull=step.pull or "if-not-exists",
        detach=step.detach or kind == KIND_SERVICE,
        failure_ignored=step.failure_ignored,
        user=step.user,
        shm_size=step.shm_size,
        dns=list(step.dns),
        extra_hosts=list(step.extra_hosts),
        ports=list(step.ports),
    )
    wd = step.working_dir
    out.working_dir = (
        wd if wd.startswith("/") else posixpath.join(spec.workspace, wd) if wd else spec.workspace
    )
    env: dict[str, str] = dict(environ or {})
    secrets: list[SecretRef] = []
    for name, value in stage.environment.items():
        if isinstance(value, dict):
            secrets.append(SecretRef(env=name, name=value["from_secret"]))
        else:
            env[name] = value
    step_env: dict[str, str] = {}
    for name, value in step.environment.items():
        if isinstance(value, dict):
            secrets.append(SecretRef(env=name, name=value["from_secret"]))
        else:
            step_env[name] = value
    plugin_env, plugin_secrets = plugin_variables(step.settings)
    for env_name, secret in step.secrets:
        secrets.append(SecretRef(env=env_name, name=secret))
        also = _drone08_plugin_variable(env_name, step, stage)
        if also and also not in plugin_env and not any(r.env == also for r in plugin_secrets):
            secrets.append(SecretRef(env=also, name=secret))
    secrets.extend(plugin_secrets)
    out.environment = env
    out.secrets = _unique_secrets(secrets)
    out.mounts = _mounts(step, stage, kind)
    out.needs_trust = privileges(out)
    return out, {**step_env, **plugin_env}


def _drone08_plugin_variable(env_name: str, step: Step, stage: Stage) -> str:
    """``PLUGIN_<TARGET>`` for a 0.8 ``secrets:`` entry of a plugin step, or ``""``.

    Drone 0.8 set only ``<TARGET>`` in upper case (cncd/pipeline frontend/yaml/compiler/
    convert.go, ``createProcess``), and its plugins read both names (drone-plugins/drone-docker
    0.8: ``PLUGIN_PASSWORD,DOCKER_PASSWORD``). Plugins written for ``settings:`` read only
    ``PLUGIN_*``, so a plugin step gets the secret under both names; a setting of that name,
    written in the file, is left as it is.
    """
    if stage.dialect != DRONE08 or step.commands or env_name.startswith("PLUGIN_"):
        return ""
    return "PLUGIN_" + env_name


def trust_view(step: Step, stage: Stage) -> StepSpec:
    """What the trust rules look at in a step as written (image, program, mounts, flags),
    for checks that have no build to compile it for (``runner lint``)."""
    return StepSpec(
        name=step.name,
        image=default_image(step, stage),
        commands=list(step.commands),
        entrypoint=step.entrypoint,
        command=step.command,
        privileged=step.privileged,
        network_mode=step.network_mode,
        mounts=_mounts(step, stage, KIND_STEP),
    )


def _add_step_variables(
    out: StepSpec, own: dict[str, str], ctx: BuildContext, spec: StageSpec, number: int
) -> None:
    """Environment order: agent globals → pipeline → system variables → step's own."""
    system = build_environment(ctx, spec, out, step_number=number)
    out.environment = {**out.environment, **system, **own}


def _unique_secrets(secrets: list[SecretRef]) -> list[SecretRef]:
    by_place: dict[tuple[str, tuple[str | int, ...]], SecretRef] = {}
    for ref in secrets:
        # The step's own declaration wins over the pipeline's.
        by_place[(ref.env, tuple(ref.path))] = ref
    return list(by_place.values())


def _mounts(step: Step, stage: Stage, kind: str) -> list[Mount]:
    mounts = []
    for volume in step.volumes:
        host = host_path(volume.source, stage)
        if host is not None:
            mounts.append(Mount("host", host, volume.target, volume.read_only))
        else:
            mounts.append(Mount("temp", volume.source, volume.target, volume.read_only))
    paths = list(step.cache) + (list(stage.cache) if kind != KIND_SERVICE else [])
    for path in dict.fromkeys(paths):
        mounts.append(Mount("cache", DEFAULT_CACHE_KEY, path))
    return mounts


def _temp_volumes(spec: StageSpec) -> list[str]:
    return [
        m.source for step in spec.services + spec.steps for m in step.mounts if m.kind == "temp"
    ]


def _order(
    stage: Stage,
    spec: StageSpec,
    kept: list[tuple[Step, StepSpec]],
    dropped: dict[str, list[str]],
) -> None:
    """Fill ``depends_on`` of the kept steps: explicit DAG, 0.8 groups, or none (in order)."""
    root = [] if stage.clone_disable else ["clone"]
    has_groups = any(step.group for step, _ in kept)
    has_dag = any(step.depends_on is not None for step, _ in kept)
    if has_groups and not has_dag:
        previous: list[str] = root
        current: list[str] = []
        current_group = None
        for step, out in kept:
            if step.group and step.group == current_group:
                current.append(step.name)
            else:
                if current:
                    previous = current
                current = [step.name]
                current_group = step.group or None
            out.depends_on = list(previous)
        return
    if not has_dag:
        return
    known = {step.name for step, _ in kept} | set(root)
    own_clone = stage.clone_steps  # the user's clone steps run first, one after the other
    for step, out in kept:
        if step.name in own_clone:
            deps = root + own_clone[: own_clone.index(step.name)]
        else:
            deps = step.depends_on or root + own_clone  # an empty list waits for the clone
        out.depends_on = _resolve(deps, dropped, known)


def _resolve(deps: list[str], dropped: dict[str, list[str]], known: set[str]) -> list[str]:
    out: list[str] = []
    pending = list(deps)
    seen: set[str] = set()
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if name in known:
            out.append(name)
        elif name in dropped:
            pending.extend(dropped[name])
    return out
