"""The event log's filter rule (``runner.services.events.read_filter``), which the API, the pages
and `runner events` share: the forms of a time (seconds, a date or time in UTC or its own zone,
an age), ``build.*`` as the prefix ``build.``, the default and bounded limit, and a 400 naming a
wrong argument. The same rule through a real server is in tests/cli/test_cli_events.py."""

from __future__ import annotations

import datetime as dt

import pytest

from runner.errors import BadRequest
from runner.services.events import DEFAULT_LIMIT, MAX_LIMIT, read_filter

NOW = 1_800_000_000.0


def test_times_are_seconds_dates_in_utc_or_their_zone_or_ages():
    utc = dt.datetime(2026, 12, 5, 21, 0, tzinfo=dt.UTC).timestamp()
    assert read_filter({"since": "2026-12-05T21:00"}, now=NOW)[0].since == utc
    assert read_filter({"since": "2026-12-05T21:00Z"}, now=NOW)[0].since == utc
    assert read_filter({"since": "2026-12-05T23:00+02:00"}, now=NOW)[0].since == utc
    assert read_filter({"until": "2026-12-05"}, now=NOW)[0].until == utc - 21 * 3600
    assert read_filter({"since": "1700000000"}, now=NOW)[0].since == 1_700_000_000.0
    assert read_filter({"since": "90m"}, now=NOW)[0].since == NOW - 5400
    assert read_filter({"since": "7d"}, now=NOW)[0].since == NOW - 7 * 86400


def test_kind_limit_and_defaults():
    wanted, limit = read_filter({}, now=NOW)
    assert (wanted.kind, wanted.actor, wanted.since, wanted.before) == (None, None, None, None)
    assert limit == DEFAULT_LIMIT
    assert read_filter({"kind": "build.*"})[0].kind == "build."
    assert read_filter({"kind": "secret.set", "actor": " dana "})[0].actor == "dana"
    assert read_filter({"limit": str(MAX_LIMIT), "before": "12"})[1] == MAX_LIMIT


@pytest.mark.parametrize(
    ("args", "word"),
    [
        ({"kind": "Build.Created"}, "kind"),
        ({"kind": "build.%"}, "kind"),
        ({"limit": str(MAX_LIMIT + 1)}, "limit"),
        ({"before": "0"}, "before"),
        ({"since": "last week"}, "since"),
        ({"until": "99999999999999"}, "until"),
        ({"actor": ["a", "b"]}, "actor"),
    ],
)
def test_a_wrong_argument_is_a_bad_request_naming_it(args, word):
    with pytest.raises(BadRequest, match=word):
        read_filter(args, now=NOW)
