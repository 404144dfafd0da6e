"""The store applies the one glob dialect (runner.globs) where it picks an environment, hands out
an image-bound secret and lets a repository-restricted agent claim: ``*`` stops at ``/``,
``**`` crosses it. On SQLite and PostgreSQL."""

from __future__ import annotations

from .helpers import make_build


def test_environment_branch_star_stops_at_a_slash(stores, repo):
    stores.environments.create(repo.id, "staging", branches=["feature/*"], position=1)
    stores.environments.create(repo.id, "nested", branches=["feature/**"], position=2)
    assert stores.environments.match(repo.id, event="push", branch="feature/a").name == "staging"
    assert stores.environments.match(repo.id, event="push", branch="feature/a/b").name == "nested"


def test_secret_bound_to_an_image_glob_stops_at_a_slash(stores, repo):
    stores.secrets.set(repo.id, "token", "s3cret", images=["registry.local/plugins/*"])
    values = stores.secrets.values_for
    assert values(repo.id, "push", image="registry.local/plugins/docker") == {"token": "s3cret"}
    assert values(repo.id, "push", image="registry.local/plugins/a/docker") == {}


def test_agent_restricted_to_a_repository_glob_stops_at_a_slash(stores):
    nested = stores.repos.create("group/sub/app", forge="gitlab", clone_url="file:///tmp/n.git")
    flat = stores.repos.create("group/app", forge="gitlab", clone_url="file:///tmp/f.git")
    deeper = stores.builds.create(make_build(nested.id))
    mine = stores.builds.create(make_build(flat.id))
    agent = stores.agents.create("a", allowed_repos=["group/*"])
    assert stores.stages.claim(agent).build_id == mine.id
    assert stores.stages.claim(agent) is None
    deep = stores.agents.create("b", allowed_repos=["group/**"])
    assert stores.stages.claim(deep).build_id == deeper.id
