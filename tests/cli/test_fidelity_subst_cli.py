"""`runner secret add --skip-verify` (Drone 0.8's flag; also `--substitute`) marks a secret a
Drone 0.8 file may write as `${NAME}`, and `runner secret ls` shows it; a name given in another
case replaces the secret, since names are case-insensitive as in Drone (drone/drone
`plugin/secret/static.go`, `staticController.Find`: `strings.EqualFold`), against a real
server."""

from __future__ import annotations


def test_skip_verify_and_substitute_mark_the_secret_and_case_replaces(admin):
    admin.ok("repo", "add", "acme/subst", "--clone-url", "file:///srv/subst.git")
    admin.ok("secret", "add", "acme/subst", "DOCKER_PASSWORD", "pw-1", "--skip-verify")
    admin.ok("secret", "add", "acme/subst", "DEPLOY_TOKEN", "tok-1", "--substitute")
    admin.ok("secret", "add", "acme/subst", "PLAIN", "plain-1")
    listed = sorted(admin.ok("secret", "ls", "acme/subst").splitlines())
    assert [line.split("\t")[0] for line in listed] == ["DEPLOY_TOKEN", "DOCKER_PASSWORD", "PLAIN"]
    assert [line.endswith(" substituted") for line in listed] == [True, True, False]
    # Another case is the same secret: replaced (without the flag now), never a second one.
    admin.ok("secret", "add", "acme/subst", "docker_password", "pw-2")
    listed = sorted(admin.ok("secret", "ls", "acme/subst").splitlines())
    assert [line.split("\t")[0] for line in listed] == ["DEPLOY_TOKEN", "DOCKER_PASSWORD", "PLAIN"]
    assert not listed[1].endswith(" substituted")
    assert "pw-" not in "".join(listed)
