"""The Docker engine: runs a stage's services and steps as containers through the docker SDK.

Per stage, ``setup`` creates a bridge network when the stage has services or detached steps
(every container joins it with its step name as alias, so those are reachable by name; a
stage of plain steps stays on Docker's default bridge, which saves a network attach per
step) and the temp volumes; the workspace volume (unless ``workspace_host_path`` is bound
instead, for ``runner exec``) is made by the daemon, labelled, at the stage's first container
create, which mounts it. Cache volumes are created on first use and kept.
Everything carries the labels of ``labels`` (build, stage, agent and run: the run id ``setup``
hands out, which keys the engine's state of that run) plus ``extra_labels``, so
``cleanup_leftovers`` finds what an interrupted agent left behind.

A step costs the round trips of a bare ``docker run``: create, attach, start, wait and
remove (no inspect); the removal runs in a background thread beside the next step's create
and start, and ``destroy`` waits for it. The clone reaches the workspace by ``put_archive``
into the stage's first container between its create and start, so no helper container is
made. ``destroy`` removes what the stage's state names (its containers, network and volumes)
without listing; it sweeps by the run label only when a call failed midway and may have
left something unknown. Output is read from the attach stream (``docker_logs``), which the
daemon pushes as it is written, so lines reach the sink without polling. The trust policy
(``policy``: docker socket, privileged, host volumes, ``network_mode``) is checked for the
whole stage in ``setup``, before anything exists. Cache volumes are keyed by repository, key,
path and, for fork pull requests, the ``fork`` scope. A missing image is pulled by the step's
pull policy, with the run's credentials for its registry host (``setup``'s ``registries``,
sent as the engine API's ``X-Registry-Auth``); one that cannot be pulled, or an image
without the shell that ``commands`` need, ends the step with status ``error`` and the reason.

A step's container configuration, image pulls and start errors are made in ``docker_steps``.

Thread-safety: one ``DockerEngine`` serves any number of stages and of parallel steps.
"""

from __future__ import annotations

import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import IO, Any

import docker
import docker.errors
import requests

from runner import core
from runner.deploy_report import REPORT_DIR, REPORT_ENV
from runner.engine.base import LogSink, RunId
from runner.engine.cleanup import cleanup_leftovers
from runner.engine.docker_logs import attach, close_stream, pump_lines
from runner.engine.docker_report import prepare_report_dir, read_report_file
from runner.engine.docker_steps import (
    container_config,
    create_error,
    pull_image,
    safe_name,
    start_error,
)
from runner.engine.labels import LABEL_RUN, cache_labels, cache_volume, run_labels
from runner.engine.policy import check_policy
from runner.errors import EngineError
from runner.pipeline.registry_auth import RegistryAuth, auth_for
from runner.pipeline.spec import (
    EXIT_SKIP,
    KIND_SERVICE,
    Mount,
    StageSpec,
    StepResult,
    StepSpec,
)
from runner.retry import Backoff, retry

_STEADY = Backoff(first=0.2, factor=1.0)  # between attempts to remove a resource


@dataclass
class _StageState:
    """What the engine created for one run of a stage (keyed by its run id)."""

    run_id: RunId
    stage: StageSpec
    labels: dict[str, str]
    network: str = ""
    volumes: dict[str, str] = field(default_factory=dict)  # workspace/temp name -> volume
    # Set when a call may have left a resource this state does not know of (a create or a
    # removal that failed midway): destroy then sweeps by the run label as well.
    unsure: bool = False
    containers: dict[str, str] = field(default_factory=dict)  # step name -> container id
    killed: set[str] = field(default_factory=set)
    log_threads: list[threading.Thread] = field(default_factory=list)
    removals: list[Future[None]] = field(default_factory=list)
    archive: IO[bytes] | None = None  # the clone, until the first container takes it
    registries: list[RegistryAuth] = field(default_factory=list)  # pull credentials
    archive_lock: threading.Lock = field(default_factory=threading.Lock)
    lock: threading.Lock = field(default_factory=threading.Lock)


class DockerEngine:
    """Implements ``runner.engine.base.Engine`` on a Docker daemon.

    ``privileged_images`` (names with or without tag) and ``trusted`` widen the trust policy
    for every stage; a stage's own ``trusted`` flag does so for that stage.
    ``workspace_host_path`` binds a host directory as the workspace instead of a volume.
    """

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        agent_name: str = "local",
        extra_labels: dict[str, str] | None = None,
        privileged_images: tuple[str, ...] | list[str] = (),
        trusted: bool = False,
        workspace_host_path: str | None = None,
    ):
        try:
            self.client = client or docker.from_env()
        except docker.errors.DockerException as exc:
            raise EngineError(
                f"cannot reach the Docker engine: {exc}; start dockerd or set DOCKER_HOST"
            ) from exc
        self.api = self.client.api
        self.agent_name = agent_name
        self.extra_labels = dict(extra_labels or {})
        self.privileged_images = list(privileged_images)
        self.trusted = trusted
        self.workspace_host_path = workspace_host_path
        self._runs: dict[RunId, _StageState] = {}
        self._guard = threading.Lock()
        self._remover = ThreadPoolExecutor(max_workers=2, thread_name_prefix="docker-remove")

    def ping(self) -> None:
        """Return when the Docker engine answers; raise ``EngineError`` with the reason if not."""
        try:
            self.api.ping()
        except Exception as exc:  # refused, socket gone, 5xx: the engine cannot run stages
            raise EngineError(
                f"cannot reach the Docker engine: {exc}; start dockerd or check DOCKER_HOST"
            ) from exc

    # -- policy ---------------------------------------------------------------------------

    def check_policy(self, stage: StageSpec) -> None:
        """Raise ``PolicyError`` naming every step that asks for more than it may have."""
        check_policy(stage, trusted=self.trusted, privileged_images=self.privileged_images)

    # -- setup ----------------------------------------------------------------------------

    def _state(self, run: RunId) -> _StageState:
        with self._guard:
            state = self._runs.get(run)
        if state is None:
            raise EngineError(f'run "{run}" was not set up; call setup() first')
        return state

    def setup(self, stage: StageSpec, registries: Sequence[RegistryAuth] = ()) -> RunId:
        """Check the policy, then create the network and volumes of ``stage``; the run's id.

        The run's images are pulled with the first of ``registries`` whose host is theirs.
        A failure removes what was made before it is raised."""
        self.check_policy(stage)
        run_id = RunId(uuid.uuid4().hex[:12])
        labels = run_labels(stage, self.agent_name, run_id, self.extra_labels)
        state = _StageState(run_id=run_id, stage=stage, labels=labels, registries=list(registries))
        with self._guard:
            self._runs[run_id] = state
        prefix = f"pr-{run_id}"
        try:
            if stage.services or any(s.detach for s in stage.steps):
                state.network = self.api.create_network(
                    prefix, driver="bridge", labels=labels, check_duplicate=True
                )["Id"]
            if not self.workspace_host_path:
                # Every container mounts the workspace, so the daemon creates it (with these
                # labels) at the first container create: one round trip less per stage.
                state.volumes["workspace"] = f"{prefix}-workspace"
            for name in stage.temp_volumes:
                volume = f"{prefix}-{safe_name(name)}"
                self.api.create_volume(volume, labels=labels)
                state.volumes[name] = volume
            for step in [*stage.services, *stage.steps]:
                for mount in step.mounts:
                    if mount.kind == "cache":
                        self._ensure_cache(stage, mount)
        except Exception as exc:
            state.unsure = True  # a create that failed midway may have made its resource
            self.destroy(run_id)
            if isinstance(exc, docker.errors.APIError):
                raise EngineError(f'cannot set up stage "{stage.name}": {exc.explanation}') from exc
            if isinstance(exc, docker.errors.DockerException):
                raise EngineError(f"cannot reach the Docker engine: {exc}") from exc
            raise
        return run_id

    def _ensure_cache(self, stage: StageSpec, mount: Mount) -> str:
        name = cache_volume(stage, mount)
        labels = cache_labels(stage, mount, self.agent_name, self.extra_labels)
        try:
            self.api.create_volume(name, labels=labels)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # an existing cache volume is what we want
                raise
        return name

    def copy_to_workspace(self, run: RunId, src_dir: str) -> None:
        """Pack ``src_dir`` now; its files reach the workspace before any container starts.

        The archive goes into the stage's first container while it is created but not yet
        started (it mounts the workspace), so no helper container is made. Should that copy
        fail, that first step ends with status ``error`` and the reason.
        """
        state = self._state(run)
        # A file, not memory: a large repository is streamed to the daemon.
        archive = tempfile.TemporaryFile()
        try:
            with tarfile.open(fileobj=archive, mode="w") as tar:
                tar.add(src_dir, arcname=".")
            archive.seek(0)
        except BaseException:
            archive.close()
            raise
        with state.archive_lock:
            if state.archive is not None:
                state.archive.close()
            state.archive = archive

    def _fill_workspace(self, state: _StageState, cid: str) -> str:
        """Put a pending clone archive into the created container ``cid``; the error, or "".

        Every container passes here before it starts, so none starts before the files are in.
        """
        with state.archive_lock:
            archive, state.archive = state.archive, None
            if archive is None:
                return ""
            try:
                self.api.put_archive(cid, state.stage.workspace, archive)
            except docker.errors.APIError as exc:
                return f"cannot copy the clone into the workspace: {exc.explanation or exc}"
            finally:
                archive.close()
        return ""

    # -- steps ----------------------------------------------------------------------------

    def _create(self, state: _StageState, step: StepSpec, env: dict[str, str], log: LogSink) -> str:
        """Create the container, pulling its image by the step's pull policy."""
        config = container_config(
            self.api,
            state.stage,
            step,
            env,
            run_id=state.run_id,
            labels=state.labels,
            network=state.network,
            volumes=state.volumes,
            workspace_host_path=self.workspace_host_path,
        )
        auth = auth_for(step.image, state.registries)
        if step.pull == "always":
            pull_image(self.api, step.image, log, required=False, auth=auth)
        try:
            return self._create_container(state, config)
        except docker.errors.ImageNotFound as exc:
            if step.pull == "never":
                raise EngineError(
                    f"image {step.image} is not on this agent and the step says pull: never"
                ) from exc
        pull_image(self.api, step.image, log, required=True, auth=auth)
        return self._create_container(state, config)

    def _create_container(self, state: _StageState, config: dict[str, Any]) -> str:
        try:
            return str(self.api.create_container(**config)["Id"])
        except Exception:
            # A create that failed midway (a timeout, say) may still have made the container.
            state.unsure = True
            raise

    def run_step(self, run: RunId, step: StepSpec, env: dict[str, str], log: LogSink) -> StepResult:
        """Run ``step`` to its end (services and detached steps: until started).

        Errors that keep the container from starting come back as status ``error``.
        """
        state = self._state(run)
        started = time.time()
        try:
            cid = self._create(state, step, env, log)
        except (EngineError, docker.errors.APIError) as exc:
            return self._error(step, started, create_error(exc))
        with state.lock:
            state.containers[step.name] = cid
            killed_early = step.name in state.killed
        if killed_early:
            self._remove(cid, state)
            return StepResult(step.name, core.KILLED, 137, started, time.time(), "killed")
        copy_error = self._fill_workspace(state, cid)
        if copy_error:
            self._remove(cid, state)
            return self._error(step, started, copy_error)
        reporting = bool(env.get(REPORT_ENV))
        if reporting:
            self._prepare_report(cid, log)
        stream = attach(self.api, cid)
        try:
            self.api.start(cid)
        except docker.errors.APIError as exc:
            close_stream(stream)
            self._remove(cid, state)
            return self._error(step, started, start_error(step, exc))
        with state.lock:
            killed_while_starting = step.name in state.killed
        if killed_while_starting:  # kill_step came between create and start: kill it now
            _quiet(self.api.kill, cid)
        if step.detach or step.kind == KIND_SERVICE:
            thread = threading.Thread(
                target=pump_lines, args=(stream, log), name=f"logs-{step.name}", daemon=True
            )
            thread.start()
            state.log_threads.append(thread)
            return StepResult(step.name, core.RUNNING, 0, started, time.time())
        pump_lines(stream, log)
        try:
            code = self.api.wait(cid).get("StatusCode", -1)
            report = self._read_report(cid, log) if reporting else b""
        except docker.errors.APIError as exc:
            return self._error(step, started, f"waiting for the container failed: {exc}")
        finally:
            # Removal runs beside the next step's create and start; destroy waits for it.
            state.removals.append(self._remover.submit(self._remove, cid, state))
        finished = time.time()
        with state.lock:
            state.containers.pop(step.name, None)
        if step.name in state.killed:
            # What a killed deploy step had written stays: a canary it started still serves.
            return StepResult(
                step.name, core.KILLED, code, started, finished, "killed", report=report
            )
        status = core.SUCCESS if code in (0, EXIT_SKIP) else core.FAILURE
        return StepResult(step.name, status, code, started, finished, report=report)

    def _prepare_report(self, cid: str, log: LogSink) -> None:
        try:
            prepare_report_dir(self.api, cid)
        except (docker.errors.APIError, requests.RequestException) as exc:
            # A slow engine costs the report, never the step.
            log(f"warning: cannot create {REPORT_DIR} for the deploy report: {exc}")

    def _read_report(self, cid: str, log: LogSink) -> bytes:
        """The step's report file; b"" and a warning when it cannot be read (the engine does
        not answer in time, the archive is broken): the step's exit code still decides."""
        try:
            return read_report_file(self.api, cid)
        except (docker.errors.APIError, requests.RequestException, tarfile.TarError) as exc:
            log(f"warning: cannot read the deploy report: {exc}")
            return b""

    def _error(self, step: StepSpec, started: float, message: str) -> StepResult:
        return StepResult(step.name, core.ERROR, 0, started, time.time(), message)

    def kill_step(self, run: RunId, step: StepSpec) -> None:
        """Kill ``step``'s container now (SIGKILL); a step not yet created never starts."""
        with self._guard:
            state = self._runs.get(run)
        if state is None:
            return
        with state.lock:
            state.killed.add(step.name)
            cid = state.containers.get(step.name)
        if cid:
            try:
                self.api.kill(cid)
            except docker.errors.APIError:
                pass  # already stopped or removed: nothing left to kill

    def _remove(self, cid: str, state: _StageState | None = None) -> None:
        try:
            self.api.remove_container(cid, force=True, v=False)
        except docker.errors.NotFound:
            pass  # already gone
        except Exception:
            if state is not None:
                state.unsure = True  # destroy sweeps by label

    # -- teardown -------------------------------------------------------------------------

    def destroy(self, run: RunId) -> None:
        """Remove the run's containers, network and volumes (not caches). Never raises."""
        with self._guard:
            state = self._runs.pop(run, None)
        if state is None:
            return
        with state.archive_lock:
            if state.archive is not None:  # no container ever took the clone
                state.archive.close()
                state.archive = None
        try:
            # What this state knows of is removed directly; the sweep by label (three list
            # calls) runs only when a call may have left something unknown behind.
            with state.lock:
                running = list(state.containers.values())
            state.removals += [self._remover.submit(self._remove, c, state) for c in running]
            _, late = wait_futures(state.removals, timeout=30)
            flt = {"label": f"{LABEL_RUN}={state.run_id}"}
            if state.unsure or late:
                for c in self.api.containers(all=True, filters=flt, quiet=True):
                    self._remove(c["Id"])
            for thread in state.log_threads:
                thread.join(timeout=5)
            if state.network:
                _persist(self.api.remove_network, state.network)
            for volume in state.volumes.values():
                _persist(self.api.remove_volume, volume, force=True)
            if state.unsure or late:
                for n in self.api.networks(filters=flt):
                    _persist(self.api.remove_network, n["Id"])
                for v in (self.api.volumes(filters=flt) or {}).get("Volumes") or []:
                    _persist(self.api.remove_volume, v["Name"], force=True)
        except Exception:  # teardown must never raise: cleanup_leftovers catches the rest
            pass

    def cleanup_leftovers(self, agent_name: str | None = None) -> int:
        """Remove what an earlier, interrupted run of agent ``agent_name`` (default: this
        engine's) left behind, caches excepted. Call it at agent start only. Returns how many
        resources were removed."""
        return cleanup_leftovers(self.client, agent_name or self.agent_name)


def _persist(func: Callable[..., Any], *args: Any, attempts: int = 5, **kwargs: Any) -> None:
    """Call a removal until it succeeds or the resource is gone: the daemon may still be
    releasing a just-removed container's endpoint or mount for a moment."""

    def remove() -> None:
        try:
            func(*args, **kwargs)
        except docker.errors.NotFound:
            pass

    try:
        retry(remove, retry_on=docker.errors.APIError, attempts=attempts, backoff=_STEADY)
    except docker.errors.APIError:
        pass  # still there after the last attempt: the next cleanup_leftovers removes it


def _quiet(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        func(*args, **kwargs)
    except docker.errors.APIError:
        pass
