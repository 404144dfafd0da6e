"""The pages and the REST API take the same actions through ``runner.services``: a cancel from
the page records who cancelled, as the API's does; a cron job's schedule follows one rule
(five fields or a robfig/cron descriptor such as ``@hourly``) on the page and in the API, and a
job made on the page is scheduled (the page shows its next run, the scheduler plans it)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from runner.server.scheduler import Scheduler
from tests.webui.conftest import csrf_of


def _api(app, stores, login: str):
    """A test client and headers of an API token of ``login``."""
    user = stores.users.find(login)
    _token, plain = stores.tokens.create("test", user_id=user.id)
    return app.test_client(), {"Authorization": f"Bearer {plain}"}


def _history(client, number: int) -> str:
    return client.get(f"/repos/acme/web/{number}").get_data(as_text=True)


def test_a_cancel_from_the_page_records_who_cancelled_as_the_api_does(
    app, client_as, seeded, stores
):
    writer = client_as("writer")
    page = writer.get(f"/repos/acme/web/{seeded.running.number}").get_data(as_text=True)
    res = writer.post(
        f"/repos/acme/web/{seeded.running.number}/cancel", data={"csrf_token": csrf_of(page)}
    )
    assert res.status_code == 302
    (event,) = [e for e in stores.events.of_build(seeded.running.id) if e.kind == "cancelled"]
    assert event.actor == "writer"
    assert "cancelled" in _history(writer, seeded.running.number)
    assert "(writer)" in _history(writer, seeded.running.number)

    # The same action through the API, on another build, records its caller the same way.
    client, headers = _api(app, stores, "admin")
    res = client.post(
        f"/api/v1/repos/acme/web/builds/{seeded.waiting.number}/cancel", headers=headers
    )
    assert res.status_code == 200
    (event,) = [e for e in stores.events.of_build(seeded.waiting.id) if e.kind == "cancelled"]
    assert event.actor == "admin"
    history = client.get(
        f"/api/v1/repos/acme/web/builds/{seeded.waiting.number}/history", headers=headers
    ).get_json()
    assert [e["actor"] for e in history["events"] if e["kind"] == "cancelled"] == ["admin"]


def _top_of_next_hour(after: float) -> float:
    stamp = datetime.fromtimestamp(after, UTC).replace(minute=0, second=0, microsecond=0)
    return stamp.timestamp() + 3600


def test_an_hourly_cron_made_on_the_page_is_scheduled(app, client_as, seeded, stores):
    # Drone and Woodpecker take robfig/cron's predefined schedules ("Predefined schedules" in
    # github.com/robfig/cron doc.go: @yearly/@annually, @monthly, @weekly, @daily/@midnight,
    # @hourly); a job made with one fires, it is not dropped by the scheduler.
    services = app.extensions["runner"]
    services.scheduler = Scheduler(services)  # not started: its plan is read, not waited for
    client = client_as("admin")
    page = client.get("/repos/acme/web/settings/cron").get_data(as_text=True)
    before = time.time()
    res = client.post(
        "/repos/acme/web/settings/cron",
        data={"csrf_token": csrf_of(page), "name": "hourly", "schedule": "@hourly"},
    )
    assert res.status_code == 302
    (job,) = stores.crons.matching(seeded.repo.id)
    assert job.schedule == "@hourly" and job.branch == "main"

    planned = services.scheduler.next_runs()[job.id]
    assert planned in (_top_of_next_hour(before), _top_of_next_hour(time.time()))
    html = client.get("/repos/acme/web/settings/cron").get_data(as_text=True)
    shown = datetime.fromtimestamp(planned, UTC).isoformat(timespec="seconds")
    assert f'data-cron="hourly">{shown}<' in html


@pytest.mark.parametrize("schedule", ["every night", "61 * * * *", "@every 1h", "@reboot"])
def test_a_bad_schedule_is_refused_alike_by_the_page_and_the_api(
    app, client_as, seeded, stores, schedule
):
    client = client_as("admin")
    page = client.get("/repos/acme/web/settings/cron").get_data(as_text=True)
    res = client.post(
        "/repos/acme/web/settings/cron",
        data={"csrf_token": csrf_of(page), "name": "nightly", "schedule": schedule},
    )
    html = res.get_data(as_text=True)
    assert res.status_code == 400 and 'id="e-schedule"' in html

    api, headers = _api(app, stores, "admin")
    res = api.post(
        "/api/v1/repos/acme/web/crons",
        json={"name": "nightly", "schedule": schedule},
        headers=headers,
    )
    assert res.status_code == 400
    message = res.get_json()["error"]
    assert schedule in message and ("five-field" in message or "@hourly" in message)
    # The page shows the API's very message (as a sentence), HTML-escaped.
    assert message[1:].replace("'", "&#39;") in html
    assert stores.crons.matching(seeded.repo.id) == []


@pytest.mark.parametrize(
    "schedule", ["@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"]
)
def test_the_api_takes_every_descriptor(app, seeded, stores, schedule):
    api, headers = _api(app, stores, "admin")
    res = api.post(
        "/api/v1/repos/acme/web/crons", json={"name": "job", "schedule": schedule}, headers=headers
    )
    assert res.status_code == 201, res.get_json()
    assert res.get_json()["schedule"] == schedule
