"""Git remote URL rules: local transports are recognised in every spelling, relative submodule
URLs resolve as `git submodule` resolves them, an untrusted build fetches submodules only from
its repository's host, and credentials are hidden wherever a URL is shown."""

from __future__ import annotations

import pytest

from runner.git_urls import (
    host_of,
    is_local_url,
    redact_url,
    resolve_submodule_url,
    submodule_refusal,
    without_credentials,
)


@pytest.mark.parametrize(
    "url",
    ["file:///etc", "FILE:///etc", "/srv/git/x.git", "./x", "../x", "ext::sh -c id", "fd::3", ""],
)
def test_local_paths_and_command_transports_are_local(url):
    assert is_local_url(url)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://u:p@Git.Example.com:8443/a/b.git", "git.example.com"),
        ("ssh://git@git.example.com/a/b.git", "git.example.com"),
        ("git@git.example.com:a/b.git", "git.example.com"),
        ("git://git.example.com/a/b.git", "git.example.com"),
    ],
)
def test_network_urls_name_their_host(url, host):
    assert not is_local_url(url) and host_of(url) == host


@pytest.mark.parametrize(
    ("relative", "base", "resolved"),
    [
        ("../lib.git", "https://h.example/acme/app.git", "https://h.example/acme/lib.git"),
        ("../../other/lib", "https://h.example/acme/app", "https://h.example/other/lib"),
        ("./sub", "https://h.example/acme/app.git/", "https://h.example/acme/app.git/sub"),
        ("../lib.git", "git@h.example:acme/app.git", "git@h.example:acme/lib.git"),
        ("../../../../etc", "file:///srv/acme/app.git", "file:///etc"),
        ("https://x.example/y", "https://h.example/a/b", "https://x.example/y"),
    ],
)
def test_relative_submodule_urls_resolve_against_the_repository(relative, base, resolved):
    assert resolve_submodule_url(relative, base) == resolved


def test_untrusted_submodules_stay_on_the_repositorys_host():
    repo = "https://git.example.com/acme/app.git"
    assert submodule_refusal("https://git.example.com/acme/lib.git", repo, False) == ""
    assert submodule_refusal("git@git.example.com:acme/lib.git", repo, False) == ""
    assert "on host '169.254.169.254'" in submodule_refusal(
        "http://169.254.169.254/latest/meta-data", repo, False
    )
    assert "local path" in submodule_refusal("file:///etc", repo, False)
    assert "local path" in submodule_refusal("ext::sh -c touch% /tmp/pwned", repo, False)
    # From a repository cloned from a local path, no untrusted submodule can be fetched.
    assert "cloned from a local path" in submodule_refusal(
        "https://git.example.com/lib", "file:///srv/app.git", False
    )


def test_a_trusted_repository_may_fetch_submodules_from_anywhere():
    assert submodule_refusal("file:///srv/other.git", "https://h/a", True) == ""


def test_credentials_are_hidden_in_urls_and_messages():
    assert redact_url("https://bot:tok@h.example/a.git") == "https://***@h.example/a.git"
    assert redact_url("https://h.example/a.git") == "https://h.example/a.git"
    message = "fatal: could not read from http://bot:tok@h/a and ssh://git@h/b"
    assert redact_url(message) == "fatal: could not read from http://***@h/a and ssh://***@h/b"


def test_the_remote_url_given_to_steps_carries_no_credentials():
    # Drone sets DRONE_REMOTE_URL to the repository's plain URL; credentials go through netrc.
    assert without_credentials("https://bot:tok@h.example/a.git") == "https://h.example/a.git"
    assert without_credentials("git@h.example:a/b.git") == "git@h.example:a/b.git"
