"""The build page's history says each entry's kind once, and names agents as stored: an entry
written by an older version ("requeued: requeued: agent 2", "cancelled: cancelled") reads like a
new one, on the page and in the API's history (``text``)."""

from __future__ import annotations


def test_older_doubled_history_entries_read_once_on_the_page_and_in_the_api(
    app, client_as, seeded, stores
):
    build = seeded.running
    stores.events.add(build.id, "requeued", "requeued: agent 2 stopped renewing its lease")
    stores.events.add(build.id, "requeued", "agent build-01 stopped renewing its lease")
    stores.events.add(build.id, "cancelled", "cancelled", actor="alice")

    page = client_as("admin").get(f"/repos/acme/web/{build.number}").get_data(as_text=True)
    assert "requeued: requeued" not in page and "cancelled: cancelled" not in page
    assert "requeued: agent 2 stopped renewing its lease" in page
    assert "requeued: agent build-01 stopped renewing its lease" in page
    assert 'cancelled <span class="muted">(alice)</span>' in page

    user = stores.users.find("admin")
    _token, plain = stores.tokens.create("test", user_id=user.id)
    history = (
        app.test_client()
        .get(
            f"/api/v1/repos/acme/web/builds/{build.number}/history",
            headers={"Authorization": f"Bearer {plain}"},
        )
        .get_json()
    )
    assert [e["text"] for e in history["events"]][-3:] == [
        "requeued: agent 2 stopped renewing its lease",
        "requeued: agent build-01 stopped renewing its lease",
        "cancelled",
    ]
