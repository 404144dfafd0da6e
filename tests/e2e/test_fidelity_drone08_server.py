"""Through a real server and its agent, a Woodpecker workflow gets what Woodpecker gives it:
the repository cloned into ``/woodpecker/src/<owner>/<name>`` (the clone URL is a local path,
so it names no host), and a secret nested in a plugin setting inside the JSON of
``PLUGIN_LOGINS``, put there by the agent after the claim (the stored spec and log never hold
it).

Sources: woodpecker-ci/woodpecker ``server/pipeline/items.go`` (``WithWorkspaceFromURL`` with
base ``/woodpecker``) and ``pipeline/frontend/yaml/compiler/settings/params.go``
(``injectSecretRecursive``).
"""

from __future__ import annotations

import hashlib

import pytest
import requests

from tests.e2e.conftest import add_repo
from tests.e2e.harness import github_push

pytestmark = [pytest.mark.docker]

VALUE = "pw-4b9d-Nested-s3cret"

# The plugin prints the digest of what it received: proof of the value, which the log masks.
PRINT_DIGEST = (
    "import hashlib, json, os; logins = json.loads(os.environ['PLUGIN_LOGINS']); "
    "print('registry', logins[0]['registry']); "
    "print('digest', hashlib.sha256(logins[0]['password'].encode()).hexdigest())"
)
PIPELINE = f"""\
steps:
  - name: where
    image: runner-test/busybox
    commands:
      - pwd
      - cat marker.txt
  - name: login
    image: runner-test/python
    entrypoint: [python3, -c, "{PRINT_DIGEST}"]
    settings:
      logins:
        - registry: registry.example.com
          password:
            from_secret: registry_password
"""


def test_server_build_clones_into_the_woodpecker_workspace_and_fills_a_nested_secret(
    server, admin_token, local_repo
):
    slug = "acme/fidelity"
    repo = add_repo(server, admin_token, slug, local_repo)
    resp = server.api(
        "POST",
        f"/repos/{slug}/secrets",
        admin_token,
        json={"name": "registry_password", "value": VALUE},
    )
    assert resp.status_code == 201, resp.text
    sha = local_repo.commit({".woodpecker.yml": PIPELINE, "marker.txt": "cloned here\n"})
    headers, body = github_push(slug, local_repo, sha, repo["webhook_secret"])
    hook = requests.post(f"{server.url}/hook/{slug}", data=body, headers=headers, timeout=30)
    assert hook.status_code < 300, hook.text
    number = server.api("GET", f"/repos/{slug}/builds", admin_token).json()[0]["number"]
    build = server.wait_build(slug, number, admin_token)
    assert build["status"] == "success", build
    steps = {s["name"]: s for s in build["stages"][0]["steps"]}

    def log_of(name: str) -> str:
        path = f"/repos/{slug}/builds/{number}/logs/1/{steps[name]['number']}"
        return str(server.api("GET", path, admin_token).text)

    where = log_of("where")
    assert "/woodpecker/src/acme/fidelity" in where
    assert "cloned here" in where
    login = log_of("login")
    assert "registry registry.example.com" in login
    assert f"digest {hashlib.sha256(VALUE.encode()).hexdigest()}" in login
    assert VALUE not in login
    stored = (server.data_dir / "runner.db").read_bytes()
    assert VALUE.encode() not in stored
