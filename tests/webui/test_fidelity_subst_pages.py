"""The secrets page offers "Substitute into the file (Drone 0.8)", stores it through the secrets
service and lists it; a name differing only by case from a secret of the repository is refused
with the reason next to the name, as the API refuses it (names are case-insensitive, as
Drone's: drone/drone ``plugin/secret/static.go`` compares them with ``strings.EqualFold``)."""

from __future__ import annotations

from tests.webui.conftest import csrf_of

PAGE = "/repos/acme/web/settings/secrets"


def test_substitute_checkbox_is_stored_and_listed(client_as, seeded, stores):
    client = client_as("admin")
    page = client.get(PAGE).get_data(as_text=True)
    assert "Substitute into the file (Drone 0.8)" in page
    res = client.post(
        PAGE,
        data={
            "csrf_token": csrf_of(page),
            "name": "DOCKER_PASSWORD",
            "value": "pw-value",
            "events": ["push", "tag"],
            "substitute": "1",
        },
    )
    assert res.status_code == 302
    repo = stores.repos.find("acme/web")
    [secret] = [s for s in stores.secrets.of_repo(repo.id) if s.name == "DOCKER_PASSWORD"]
    assert secret.substitute is True
    html = client.get(PAGE).get_data(as_text=True)
    assert "Substituted (0.8)" in html and "pw-value" not in html


def test_a_name_differing_only_by_case_is_refused_next_to_the_name(client_as, seeded, stores):
    client = client_as("admin")
    for name in ("DEPLOY_KEY", "deploy_key"):
        page = client.get(PAGE).get_data(as_text=True)
        res = client.post(
            PAGE,
            data={"csrf_token": csrf_of(page), "name": name, "value": "v", "events": ["push"]},
        )
    assert res.status_code == 409
    assert "DEPLOY_KEY exists and names are case-insensitive" in res.get_data(as_text=True)
    repo = stores.repos.find("acme/web")
    assert [s.name for s in stores.secrets.of_repo(repo.id)].count("deploy_key") == 0
