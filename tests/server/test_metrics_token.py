"""The metrics_token setting: one shorter than 16 characters stops the server at start with the
reason; a long one opens `/metrics` and nothing else (the API does not take it)."""

from __future__ import annotations

import pytest

from runner.errors import RunnerError
from runner.server.app import create_app
from runner.testing import app_settings

TOKEN = "a-long-enough-metrics-token"


def test_a_short_metrics_token_stops_the_server_at_start(tmp_path):
    settings = app_settings(tmp_path / "data", embedded_agent=False, metrics_token="short")
    with pytest.raises(RunnerError, match="at least 16 characters"):
        create_app(settings, start_background=False)


def test_the_metrics_token_opens_the_metrics_and_not_the_api(tmp_path):
    settings = app_settings(tmp_path / "data", embedded_agent=False, metrics_token=TOKEN)
    app = create_app(settings, start_background=False)
    try:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        scraped = client.get("/metrics", headers=headers)
        assert scraped.status_code == 200, scraped.get_data(as_text=True)[:200]
        assert "runner_database_up 1.0" in scraped.get_data(as_text=True)
        assert client.get("/api/v1/user", headers=headers).status_code == 401
        assert (
            client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
        )
    finally:
        app.extensions["runner"].db.dispose()
