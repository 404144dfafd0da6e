"""Repository rules: slugs that could climb out of paths are refused, and only a server admin
may set a new clone URL or a local one (file://, a plain path, a command transport)."""

from __future__ import annotations

import pytest

from runner.errors import BadRequest, Forbidden
from runner.repo_rules import authorize_clone_url, check_clone_url, check_slug


@pytest.mark.parametrize(
    "slug", ["acme/app", "/acme/app/", "group/sub/app", "a-b/c_d.e", "acme/.github"]
)
def test_good_slugs_pass(slug):
    assert check_slug(slug) == slug.strip("/")


@pytest.mark.parametrize(
    "slug",
    [
        "../..",
        "acme/..",
        "./app",
        "acme//app",
        "acme",
        "",
        "acme/app name",
        "acme/ä",
        "a/" + "b" * 101,
        7,
    ],
)
def test_bad_slugs_are_refused(slug):
    with pytest.raises(BadRequest, match="slug"):
        check_slug(slug)


@pytest.mark.parametrize("url", ["", "  ", "https://h/x\nhttps://evil/y", 42])
def test_a_clone_url_is_one_line_of_text(url):
    with pytest.raises(BadRequest):
        check_clone_url(url)


def test_only_a_server_admin_sets_a_local_or_new_clone_url():
    authorize_clone_url("file:///srv/x.git", server_admin=True, changing=True)
    authorize_clone_url("https://h/x.git", server_admin=False, changing=False)
    with pytest.raises(Forbidden, match="local path"):
        authorize_clone_url("file:///srv/x.git", server_admin=False, changing=False)
    with pytest.raises(Forbidden, match="change a repository's clone URL"):
        authorize_clone_url("https://other/x.git", server_admin=False, changing=True)
