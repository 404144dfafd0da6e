"""The forge registry: one object per forge name a repository may hold, Gitea and Gogs as two
configurations of one class, and the commit status API root each forge picks for a repository."""

from __future__ import annotations

import pytest
from forge_payloads import body, gitea_headers, gogs_headers, load

from runner.commands.repo import FORGES as CLI_FORGES
from runner.core import Repo
from runner.errors import BadRequest
from runner.forges import FORGES, get_forge, status_client
from runner.forges.base import Forge
from runner.store.repos import FORGES as STORE_FORGES

SECRET = "registry-secret"


def test_every_forge_a_repository_can_name_has_one_registered_object():
    assert set(FORGES) == set(STORE_FORGES) == set(CLI_FORGES)
    for name, forge in FORGES.items():
        assert isinstance(forge, Forge) and forge.name == name
        assert get_forge(name) is forge


def test_an_unknown_forge_is_refused_naming_the_known_ones():
    with pytest.raises(BadRequest, match="unknown forge 'bitbucket'; use one of generic, gitea"):
        get_forge("bitbucket")


def test_gitea_and_gogs_are_one_class_told_apart_by_their_headers():
    gitea, gogs = get_forge("gitea"), get_forge("gogs")
    assert type(gitea) is type(gogs) and gitea is not gogs
    raw = body(load("gitea_push"))
    from_gitea = gitea.parse(gitea_headers("push", raw, SECRET, delivery="one"), raw)
    from_gogs = gogs.parse(gogs_headers("push", raw, SECRET, delivery="one"), raw)
    assert from_gitea is not None and from_gitea == from_gogs
    # Each reads only its own headers.
    with pytest.raises(BadRequest, match="missing X-Gogs-Event header: .* a Gogs webhook"):
        gogs.parse(gitea_headers("push", raw, SECRET), raw)


@pytest.mark.parametrize(
    ("forge", "clone_url", "api_root"),
    [
        ("github", "https://github.com/acme/app.git", "https://api.github.com"),
        (
            "gitlab",
            "https://gl.example.com:8443/acme/app.git",
            "https://gl.example.com:8443/api/v4",
        ),
        ("gitea", "http://gitea.example.com/acme/app.git", "http://gitea.example.com/api/v1"),
        ("gogs", "https://gogs.example.com/acme/app.git", "https://gogs.example.com/api/v1"),
    ],
)
def test_the_status_api_root_follows_the_forge_and_clone_url(forge, clone_url, api_root):
    repo = Repo(id=1, slug="acme/app", forge=forge, clone_url=clone_url, forge_token="t")
    client = status_client(repo)
    assert client is not None and client.base_url == api_root
    # The repository's own forge URL wins; without a token there is no client at all.
    named = Repo(
        id=1, slug="acme/app", forge=forge, forge_url="https://x.example/api", forge_token="t"
    )
    assert status_client(named).base_url == "https://x.example/api"
    assert status_client(Repo(id=1, slug="acme/app", forge=forge, clone_url=clone_url)) is None


def test_a_generic_repository_posts_statuses_to_its_forge_url_even_without_a_token():
    assert status_client(Repo(id=1, slug="acme/app", forge="generic")) is None
    repo = Repo(id=1, slug="acme/app", forge="generic", forge_url="http://127.0.0.1:9/status")
    client = status_client(repo)
    assert client is not None and client.base_url == "http://127.0.0.1:9/status"
    # A clone URL on a host says nothing about where a generic receiver is.
    local = Repo(id=1, slug="acme/app", forge="generic", clone_url="https://git.example/a.git")
    assert status_client(local) is None
