"""Deploying with pipeline-runner, end to end: the walk of docs/deploying.md with real parts.

A real server and its agent, a git remote, a real registry, a single-node Docker Swarm and
Chromium. The team's pipeline builds its image with the docker plugin (tag
``<version>-<sha7>-r<configuration revision>``) and ships it with the deploy plugin:

- a push to ``develop`` deploys to staging by itself;
- tag ``v1.2.0`` waits for approval; four-eyes refuses the person who pushed it, another person
  approves, and production runs v1.2.0: the status (API, ``runner env status``, the
  Deployments page) names its build, commit, image tag, approver and agent;
- tag ``v1.3.0-rc.1`` starts a canary that fails its health check: the canary is removed, the
  step fails, production still runs v1.2.0, the record says ``aborted``;
- tag ``v1.3.0`` starts a healthy canary beside v1.2.0: a client on the service's name gets
  part of its 240 answers from it, the record says ``canary`` with its share; a promote (by the
  pusher, approved by the other) makes v1.3.0 live everywhere and removes the canary;
- a rollback to a build whose pipeline has no step for production is refused with the reason;
- the event log (API and its page in Chromium) lists these actions with their actors.

The screenshots of docs/deploying.md are taken here.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections import Counter
from pathlib import Path

import docker
import pytest

from runner.testing import LocalRepo, ServerProcess, github_push
from tests.fixtures.browser import chromium, log_in
from tests.plugins.conftest import BUSYBOX, PYTHON, TEST_LABEL, running_images

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.browser]

SLUG = "acme/shop"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORDS = {"dev": "password-of-dev", "ops": "password-of-ops"}
REQUESTS = 240

APP = """\
import http.server
VERSION = open("/app/version").read().strip().encode()
class Version(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(VERSION)))
        self.end_headers()
        self.wfile.write(VERSION)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("", 8000), Version).serve_forever()
"""
HEALTHY = "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')\""
# A loaded machine may take seconds to start the check's interpreter: a generous timeout and
# start period, so only a check that keeps failing (``false``) makes a task unhealthy.
DOCKERFILE = (
    "FROM {python}\nCOPY app.py version /app/\n"
    "HEALTHCHECK --interval=1s --timeout=10s --retries=3 --start-period=15s CMD {check}\n"
    'CMD ["python3", "/app/app.py"]\n'
)
# A client on the service's network: each request resolves the name again. A request that
# fails (a loaded machine, an address the name kept for a moment after a task went) is counted
# as its error's type instead of failing the step, so the test can say how many there were.
MEASURE = (
    "import collections, json, urllib.request\n"
    "def ask():\n"
    "    try:\n"
    "        return urllib.request.urlopen('http://{service}:8000/', timeout=30).read().decode()\n"
    "    except OSError as exc:\n"
    "        return 'error ' + type(exc).__name__\n"
    "print('served', json.dumps(collections.Counter(ask() for _ in range({count}))))"
)

# The image tag the docker plugin's tag_scheme gives a tag build: 1.2.0-<sha7>-r<revision>.
RELEASE_IMAGE = (
    "{registry}/acme/shop:${{DRONE_TAG##v}}-${{DRONE_COMMIT_SHA:0:7}}-r${{DRONE_CONFIG_REVISION}}"
)
# What every commit's pipeline starts with: test, then build and push the image.
HEAD = """\
kind: pipeline
name: shop
steps:
  - name: test
    image: {busybox}
    commands:
      - test -s version && echo "testing $(cat version)"
"""
IMAGE = """\
  - name: image
    image: {docker_plugin}
    settings:
      repo: {registry}/acme/shop
      tag_scheme: semver-commit-revision
      labels:
        - {label}=1
    when:
      event: [push, tag]
  - name: deploy-staging
    image: {deploy_plugin}
    settings:
      service: {service}-staging
      image: {registry}/acme/shop:${{DRONE_COMMIT_SHA:0:7}}-r${{DRONE_CONFIG_REVISION}}
      monitor: 2
    volumes:
      - name: docker-socket
        path: /var/run/docker.sock
    when:
      target: staging
"""
# v1.2.0: production is a rolling update.
ROLLING = """\
  - name: deploy-production
    image: {deploy_plugin}
    settings:
      service: {service}
      image: {release_image}
      monitor: 2
    volumes:
      - name: docker-socket
        path: /var/run/docker.sock
    when:
      target: production
"""
# From v1.3.0: a tag starts a canary and measures it; a promote of that build promotes it.
CANARY = """\
  - name: canary
    image: {deploy_plugin}
    settings:
      service: {service}
      strategy: canary
      canary_replicas: 1
      image: {release_image}
      monitor: 3
    volumes:
      - name: docker-socket
        path: /var/run/docker.sock
    when:
      event: [tag]
      target: production
  - name: measure
    image: {python}
    network_mode: {network}
    commands:
      - |
        python3 -c "{measure}"
    when:
      event: [tag]
      target: production
  - name: promote
    image: {deploy_plugin}
    settings:
      service: {service}
      strategy: canary
      action: promote
      monitor: 2
    volumes:
      - name: docker-socket
        path: /var/run/docker.sock
    when:
      event: [promote]
      target: production
"""
TAIL = """\
volumes:
  - name: docker-socket
    host:
      path: /var/run/docker.sock
"""


class Team:
    """The server, the repository and the team's two people: ``dev`` pushes and promotes,
    ``ops`` approves. ``api(method, path, who)`` calls the API as one of them."""

    def __init__(self, server: ServerProcess, repo: LocalRepo, secret: str) -> None:
        self.server, self.repo, self.secret = server, repo, secret
        self.tokens = {"admin": server.token("admin")}
        for login in PASSWORDS:
            server.cli("user", "add", login, "--password", PASSWORDS[login])
            server.cli("repo", "perms", "set", SLUG, login, "write")
            self.tokens[login] = server.token(login)

    def api(self, method: str, path: str, who: str = "admin", **kwargs):
        return self.server.api(method, f"/repos/{SLUG}{path}", self.tokens[who], **kwargs)

    def ok(self, method: str, path: str, who: str = "admin", **kwargs):
        resp = self.api(method, path, who, **kwargs)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def push(self, files: dict[str, str], *, branch: str = "main", tag: str = "") -> dict:
        """Commit ``files`` (on ``branch``, tagged ``tag``), deliver the push; the new build."""
        sha = self.repo.commit(files, message=f"release {tag or branch}", branch=branch, tag=tag)
        headers, body = github_push(SLUG, self.repo, sha, self.secret, branch=branch, tag=tag)
        resp = self.server.post_hook(SLUG, headers, body)
        assert resp.status_code == 201, resp.text
        build: dict = resp.json()["build"]
        return build

    def wait(self, number: int, until=None) -> dict:
        done = until or (lambda b: b["status"] not in ("pending", "running", "blocked"))
        return self.server.wait_build(SLUG, number, self.tokens["admin"], done, timeout=600)

    def live(self, environment: str) -> dict:
        return self.ok("GET", f"/environments/{environment}/status")

    def explain(self, build: dict) -> str:
        """Each step's outcome and the failed steps' logs: the message of a failed assertion."""
        return self.server.explain_build(SLUG, build, self.tokens["admin"])

    def step_log(self, build: dict, step_name: str) -> str:
        for stage in build["stages"]:
            for step in stage["steps"]:
                if step["name"] == step_name:
                    path = f"/builds/{build['number']}/logs/{stage['number']}/{step['number']}"
                    resp = self.api("GET", path)
                    assert resp.status_code == 200, resp.text
                    return resp.text
        raise AssertionError(f"build #{build['number']} has no step {step_name}")


def app_files(version: str, *, check: str = HEALTHY) -> dict[str, str]:
    return {
        "app.py": APP,
        "version": version + "\n",
        "Dockerfile": DOCKERFILE.format(python=PYTHON, check=check),
    }


@pytest.fixture
def shop(docker_client, swarm, run_id, tmp_path):
    """The two swarm services the team deploys to (production: 3 replicas, staging: 1) on an
    attachable overlay network, endpoint mode dnsrr, running v1.1.0 built here; removed after
    with every image the pipelines pushed."""
    folder = tmp_path / "v1.1.0"
    folder.mkdir()
    for name, text in app_files("1.1.0").items():
        (folder / name).write_text(text)
    first = f"pipeline-runner/shop:v1.1.0-{run_id}"
    docker_client.images.build(path=str(folder), tag=first, labels={TEST_LABEL: "1"}, rm=True)
    network = docker_client.networks.create(
        f"shop-{run_id}", driver="overlay", attachable=True, labels={TEST_LABEL: "1"}
    )
    service = f"shop-{run_id}"
    for name, replicas in ((service, 3), (f"{service}-staging", 1)):
        docker_client.services.create(
            first,
            name=name,
            labels={TEST_LABEL: "1"},
            networks=[network.name],
            mode=docker.types.ServiceMode("replicated", replicas=replicas),
            endpoint_spec=docker.types.EndpointSpec(mode="dnsrr"),
        )
    try:
        assert running_images(docker_client, service) == {first}
        yield {"service": service, "network": network.name, "first": first}
    finally:
        for leftover in docker_client.services.list(filters={"label": TEST_LABEL}):
            leftover.remove()
        for image in docker_client.images.list(filters={"label": TEST_LABEL}):
            if any("shop" in tag for tag in image.tags):
                try:
                    docker_client.images.remove(image.id, force=True)
                except docker.errors.APIError:
                    pass


def test_a_team_deploys_to_staging_releases_through_a_canary_and_reads_the_event_log(
    docker_client, plugin_images, start_registry, shop, tmp_path
):
    registry = start_registry()
    server = ServerProcess(tmp_path / "server", agent_name="deployer").start()
    try:
        run_the_walk(docker_client, server, plugin_images, registry.address, shop, tmp_path)
    finally:
        server.stop()


def run_the_walk(docker_client, server, plugin_images, registry, shop, tmp_path):
    remote = LocalRepo(tmp_path / "git")
    secret = "whsec-shop-0123456789"
    server.cli(
        "repo", "add", SLUG, "--forge", "github", "--clone-url", remote.clone_url,
        "--secret", secret, "--trusted",
    )  # fmt: skip
    team = Team(server, remote, secret)
    server.cli("env", "add", SLUG, "staging", "--branches", "develop")
    server.cli(
        "env", "add", SLUG, "production", "--tags", "v*", "--approval", "--four-eyes", "--lock"
    )
    words = dict(
        busybox=BUSYBOX,
        python=PYTHON,
        docker_plugin=plugin_images["docker"],
        deploy_plugin=plugin_images["deploy"],
        registry=registry,
        label=TEST_LABEL,
        service=shop["service"],
        network=shop["network"],
        # A block scalar of the pipeline file holds the script: its lines indented to match.
        measure=textwrap.indent(
            MEASURE.format(service=shop["service"], count=REQUESTS), " " * 8
        ).lstrip(),
        release_image=RELEASE_IMAGE.format(registry=registry),
    )
    service = shop["service"]

    # Before the team deploys anything: a pipeline with nothing but tests (build #1).
    first = team.wait(
        team.push({".drone.yml": HEAD.format(**words), **app_files("1.1.0")})["number"]
    )
    assert first["status"] == "success", team.explain(first)
    assert first["deployments"] == []

    # A push to develop deploys to staging by itself.
    rolling = HEAD.format(**words) + IMAGE.format(**words) + ROLLING.format(**words) + TAIL
    staging = team.wait(
        team.push({".drone.yml": rolling, **app_files("1.2.0")}, branch="develop")["number"]
    )
    assert staging["status"] == "success", team.explain(staging)
    revision = staging["config_revision"]
    assert revision == 2  # the tests-only file was the first configuration
    sha7 = staging["commit"][:7]
    live = team.live("staging")["live"]
    assert live["version"] == f"develop@{sha7}" and live["agent"] == "deployer"
    assert live["image"] == f"{registry}/acme/shop:{sha7}-r{revision}"
    assert running_images(docker_client, f"{service}-staging") == {live["image"]}

    # Tag v1.2.0 waits for approval; the pusher cannot approve it (four-eyes), ops can.
    tagged = team.push({".drone.yml": rolling, **app_files("1.2.0")}, tag="v1.2.0")
    number = tagged["number"]
    assert team.wait(number, lambda b: b["status"] == "blocked")["status"] == "blocked"
    refused = team.api("POST", f"/builds/{number}/approve", "dev")
    assert refused.status_code == 403 and "four-eyes" in refused.json()["error"], refused.text
    screenshot_of_the_approval(server, number)
    team.ok("POST", f"/builds/{number}/approve", "ops")
    release = team.wait(number)
    assert release["status"] == "success", team.explain(release)
    image_v120 = f"{registry}/acme/shop:1.2.0-{release['commit'][:7]}-r{release['config_revision']}"
    live = team.live("production")["live"]
    assert (live["version"], live["build_number"], live["commit"]) == (
        "v1.2.0",
        number,
        release["commit"],
    )
    assert live["image"] == image_v120
    assert (live["approved_by"], live["agent"], live["sender"]) == (["ops"], "deployer", "dev")
    assert running_images(docker_client, service) == {image_v120}
    status = server.cli("env", "status", SLUG)
    production_line = next(line for line in status.splitlines() if "production" in line)
    fields = production_line.split("live: ", 1)[1].split("  ")  # fields apart by two spaces
    assert fields[0] == "v1.2.0", status
    for field in (
        f"build #{number} (tag)",
        f"commit {release['commit'][:10]}",
        f"image {image_v120}",
        "by dev",
        "approved by ops",
        "agent deployer",
    ):
        assert field in fields, status

    # v1.3.0-rc.1 fails its health check: the canary goes, v1.2.0 stays.
    canary = HEAD.format(**words) + IMAGE.format(**words) + CANARY.format(**words) + TAIL
    broken = app_files("1.3.0-rc.1", check="false")
    number = team.push({".drone.yml": canary, **broken}, tag="v1.3.0-rc.1")["number"]
    team.wait(number, lambda b: b["status"] == "blocked")
    team.ok("POST", f"/builds/{number}/approve", "ops")
    aborted = team.wait(number)
    assert aborted["status"] == "failure", team.explain(aborted)
    assert "canary removed" in team.step_log(aborted, "canary")
    assert running_images(docker_client, service) == {image_v120}
    assert not docker_client.services.list(filters={"name": f"{service}-canary"})
    status = team.live("production")
    assert status["live"]["version"] == "v1.2.0" and status["canary"] is None
    (record,) = team.ok("GET", "/deployments?environment=production&limit=1")
    assert (record["version"], record["state"]) == ("v1.3.0-rc.1", "aborted")

    # v1.3.0: a canary beside v1.2.0 serves part of what a client on the service's name asks.
    number = team.push({".drone.yml": canary, **app_files("1.3.0")}, tag="v1.3.0")["number"]
    team.wait(number, lambda b: b["status"] == "blocked")
    team.ok("POST", f"/builds/{number}/approve", "ops")
    grey = team.wait(number)
    assert grey["status"] == "success", team.explain(grey)
    assert grey["config_revision"] == revision + 1  # the pipeline file changed once
    served = measured(team.step_log(grey, "measure"))
    answered = served["1.2.0"] + served["1.3.0"]
    assert answered >= REQUESTS * 0.9 and set(served) >= {"1.2.0", "1.3.0"}, served
    # One canary replica beside three live: about a quarter, in a band a loaded machine keeps.
    assert answered * 0.05 < served["1.3.0"] < answered * 0.6, served
    status = team.live("production")
    assert status["live"]["version"] == "v1.2.0"
    assert (status["canary"]["version"], status["canary"]["traffic_share"]) == ("v1.3.0", 25)
    screenshot_of_the_environments(server, release, image_v120)

    # The pusher promotes the canary; ops approves; v1.3.0 is live and the canary gone.
    promoted = server.cli(
        "build", "promote", "--token", team.tokens["dev"], SLUG, str(number), "production"
    )
    promote_number = int(re.match(r"build #(\d+): promote of ", promoted).group(1))
    team.wait(promote_number, lambda b: b["status"] == "blocked")
    team.ok("POST", f"/builds/{promote_number}/approve", "ops")
    promotion = team.wait(promote_number)
    assert promotion["status"] == "success", team.explain(promotion)
    image_v130 = f"{registry}/acme/shop:1.3.0-{grey['commit'][:7]}-r{grey['config_revision']}"
    assert running_images(docker_client, service) == {image_v130}
    assert not docker_client.services.list(filters={"name": f"{service}-canary"})
    status = team.live("production")
    assert status["live"]["version"] == "v1.3.0" and status["canary"] is None
    assert status["live"]["event"] == "promote" and status["live"]["approved_by"] == ["ops"]
    history = server.cli("deploy", "ls", SLUG, "--env", "production")
    assert "v1.3.0-rc.1" in history and "aborted" in history and "superseded" in history

    # A rollback to build #1, whose pipeline has no step for production, is refused.
    refused = team.api(
        "POST", f"/builds/{first['number']}/rollback", "dev", json={"target": "production"}
    )
    assert refused.status_code == 422, refused.text
    assert "has no step for environment production" in refused.json()["error"]

    # The event log says who did what.
    entries = team.ok("GET", "/events?limit=200")
    done = {(e["kind"], e["actor"]) for e in entries}
    for action in (
        ("environment.created", "admin"),
        ("build.created", "dev"),
        ("build.approved", "ops"),
        ("build.promoted", "dev"),
    ):
        assert action in done, sorted(done)
    approvals = [e for e in entries if e["kind"] == "build.approved"]
    assert len(approvals) == 4 and all(e["created"] > 0 for e in approvals)
    screenshot_of_the_event_log(server)


def measured(log: str) -> Counter[str]:
    """The versions the measure step's client was served, from its ``served {...}`` line."""
    line = next(line for line in log.splitlines() if line.startswith("served "))
    return Counter(json.loads(line[len("served ") :]))


def _page(browser, server: ServerProcess, login: str):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    password = PASSWORDS.get(login) or server.admin_password
    log_in(page, server.url, login, password)
    return page


def screenshot_of_the_approval(server: ServerProcess, number: int) -> None:
    with chromium() as browser:
        page = _page(browser, server, "ops")
        page.goto(f"{server.url}/repos/{SLUG}/{number}")
        page.wait_for_selector("#btn-approve")
        page.screenshot(path=str(SHOTS / "deploying-approval.png"), full_page=True)


def screenshot_of_the_environments(server: ServerProcess, release: dict, image: str) -> None:
    """The Deployments page while the canary runs: production has v1.2.0 (``release``, whose
    image is ``image``) live, each of its cells under its column, and v1.3.0 as a canary."""
    with chromium() as browser:
        page = _page(browser, server, "dev")
        page.goto(f"{server.url}/repos/{SLUG}/deployments")
        live = _environment_row(page, "production", "live")
        assert live["Version"] == "v1.2.0", live
        assert live["Build"] == f"#{release['number']} tag", live
        assert live["Commit"] == release["commit"][:10], live
        assert (live["Image"], live["By"], live["Approved by"]) == (image, "dev", "ops"), live
        assert (live["Agent"], live["State"].split()[0]) == ("deployer", "live"), live
        build_link = page.locator(
            '#environments tr[data-environment="production"][data-kind="live"] a',
            has_text=f"#{release['number']}",
        )
        assert build_link.get_attribute("href") == f"/repos/{SLUG}/{release['number']}"
        canary = _environment_row(page, "production", "canary")
        assert canary["Version"] == "v1.3.0" and "25%" in canary["State"], canary
        page.screenshot(path=str(SHOTS / "deploying-environments.png"), full_page=True)


def _environment_row(page, environment: str, kind: str) -> dict[str, str]:
    """The cells of one row of the Environments table by their column's heading (the kind's
    column has none): what a person reads in that row."""
    headings = page.locator("#environments thead th").all_inner_texts()
    row = page.locator(f'#environments tr[data-environment="{environment}"][data-kind="{kind}"]')
    cells = row.locator("th, td").all_inner_texts()
    assert len(cells) == len(headings), (headings, cells)
    named = zip((h.strip() or "Kind" for h in headings), cells, strict=True)
    return {heading: " ".join(cell.split()) for heading, cell in named}


def screenshot_of_the_event_log(server: ServerProcess) -> None:
    with chromium() as browser:
        page = _page(browser, server, "ops")
        page.goto(f"{server.url}/repos/{SLUG}/events")
        page.fill("form.filters input[name=kind]", "build.")
        page.fill("form.filters input[name=actor]", "dev")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*actor=dev.*"))
        kinds = page.eval_on_selector_all(
            "#events tbody tr[data-kind]", "rows => rows.map(r => r.dataset.kind)"
        )
        assert kinds and all(k.startswith("build.") for k in kinds), kinds
        assert "build.promoted" in kinds
        page.screenshot(path=str(SHOTS / "deploying-events.png"), full_page=True)
