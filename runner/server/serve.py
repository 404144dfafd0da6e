"""Production serving: gunicorn with one ``gthread`` worker and many threads.

``serve(settings)`` runs in the foreground until SIGTERM/SIGINT. The application is built inside
the worker (no preload), where the scheduler and the embedded agent also start, so every
thread lives in the process that serves the requests. One worker keeps the live-log fan-out
and the queue wake-up in one process; threads serve long-polls and SSE streams, each kind
admitted up to threads of its own on top of ``workers_threads`` (``runner.server.admission``).
"""

from __future__ import annotations

import logging
import signal

from gunicorn.app.base import BaseApplication

from runner.malloc import tune_malloc
from runner.server.admission import request_threads
from runner.settings import Settings

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 10


def make_engine_factory(settings: Settings, agent_name: str):
    """A factory of the Docker engine the agent runs stages on."""

    def factory():
        from runner.engine.docker import DockerEngine

        return DockerEngine(
            agent_name=agent_name,
            extra_labels=dict(settings.agent_engine_labels),
            privileged_images=list(settings.agent_privileged_images),
        )

    return factory


def start_embedded_agent(app, settings: Settings):
    """Start the in-process agent; it reaches this server over HTTP like a remote one."""
    from runner.agent.rpc_client import RpcClient
    from runner.agent.runtime import AgentRuntime
    from runner.server.app import EMBEDDED_AGENT_NAME

    services = app.extensions["runner"]
    name = settings.agent_name or EMBEDDED_AGENT_NAME
    url = f"http://{_connect_host(settings.host)}:{settings.port}"
    runtime = AgentRuntime(
        RpcClient(url, services.agent_token),
        make_engine_factory(settings, name),
        name=name,
        capacity=settings.agent_capacity,
        labels=settings.agent_labels,
        environ=settings.agent_environment,
        cache_dir=str(settings.data_path / "mirrors"),
    )
    runtime.start()
    services.extras["embedded_agent"] = runtime
    return runtime


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


class RunnerApplication(BaseApplication):
    """gunicorn's application wrapper around ``create_app``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        settings = self.settings
        options = {
            "bind": f"{settings.host}:{settings.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": request_threads(settings),
            "graceful_timeout": GRACEFUL_SECONDS,
            "timeout": 0,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "post_worker_init": self._post_worker_init,
            "worker_exit": self._worker_exit,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from runner.server.app import create_app

        return create_app(self.settings, start_background=True)

    def _post_worker_init(self, worker) -> None:
        services = worker.wsgi.extensions["runner"]
        runtime = None
        if self.settings.embedded_agent:
            # The API and the webhooks must not fall with the agent: an engine that is down
            # only makes it unhealthy (``runner.agent.health``); anything else is logged.
            try:
                runtime = start_embedded_agent(worker.wsgi, self.settings)
            except Exception:
                log.exception("the embedded agent did not start; serving without it")
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            # Release long-polls and stop claiming at once, so the graceful period is spent
            # only on real work; then let gunicorn stop the worker as usual.
            services.begin_shutdown()
            if runtime is not None:
                runtime.request_stop()
            if callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGTERM, on_term)

    def _worker_exit(self, server, worker) -> None:
        app = getattr(worker, "wsgi", None)
        if app is None:
            return
        services = app.extensions["runner"]
        if services.cluster is not None:
            services.cluster.stop()
        runtime = services.extras.get("embedded_agent")
        if runtime is not None:
            runtime.stop(timeout=GRACEFUL_SECONDS / 2)
        scheduler = services.scheduler
        if scheduler is not None:
            shutdown = getattr(scheduler, "shutdown", None)
            if shutdown is not None:
                shutdown(wait=False)


def serve(settings: Settings) -> None:
    """Serve until stopped by a signal."""
    from runner.data_lock import DataDirBusy, server_lock

    tune_malloc()  # before gunicorn forks the worker, which inherits it
    # Held by the worker too (inherited): `runner db restore` refuses while either lives.
    try:
        with server_lock(settings.data_path):
            RunnerApplication(settings).run()
    except DataDirBusy as exc:
        raise SystemExit(f"Error: {exc}") from None
