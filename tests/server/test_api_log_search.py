"""Search and line ranges over a whole stored log through the API: who may ask, bounded
answers (400 for bad or huge arguments), line numbers that agree with the tail's (also after the
size cap cut the log's head), escapes ignored and carriage returns applied when matching, and a
search that resumes where a pass stopped."""

from __future__ import annotations

import pytest

from runner.server.api import logs as log_api
from tests.server.conftest import auth, seed_build

BASE = "/api/v1/repos/acme/app/builds/{number}/logs/1/1"


@pytest.fixture
def logged(stores, repo):
    """A finished build whose step logged 3 chunks: lines 1-1000 are `line N`, with colour codes
    on line 500, a progress bar on line 700 and `Needle` on lines 10 and 990."""
    build = seed_build(stores, repo)
    step = build.stages[0].steps[0]
    lines = [f"line {i}" for i in range(1, 1001)]
    lines[9] = "a Needle here"
    lines[989] = "another NEEDLE"
    lines[499] = "\x1b[1;31mcol\x1b[0mour"
    lines[699] = "fetch 10%\rfetch 55%\rfetch done"
    text = "".join(line + "\n" for line in lines).encode()
    thirds = [0, len(text) // 3, 2 * len(text) // 3, len(text)]
    cuts = [text.rfind(b"\n", 0, at) + 1 if 0 < at < len(text) else at for at in thirds]
    for seq in range(3):
        stores.logs.append(step.id, seq, text[cuts[seq] : cuts[seq + 1]])
    stores.steps.update(step.id, status="success")
    return build, step


def test_search_finds_lines_across_chunks_ignoring_case_and_colour(client, tokens, logged):
    build, _step = logged
    url = BASE.format(number=build.number)
    found = client.get(url + "/search?q=needle", headers=auth(tokens["read"])).get_json()
    assert [(m["line"], m["text"]) for m in found["lines"]] == [
        (10, "a Needle here"),
        (990, "another NEEDLE"),
    ]
    assert (found["count"], found["complete"], found["next"]) == (2, True, None)
    colour = client.get(url + "/search?q=colour", headers=auth(tokens["read"])).get_json()
    assert [m["line"] for m in colour["lines"]] == [500]
    # A progress bar is its last state: what was overwritten is not found.
    done = client.get(url + "/search?q=fetch+done", headers=auth(tokens["read"])).get_json()
    assert [m["line"] for m in done["lines"]] == [700]
    gone = client.get(url + "/search?q=55%25", headers=auth(tokens["read"])).get_json()
    assert gone["count"] == 0


def test_search_pages_by_limit_and_after(client, tokens, logged):
    build, _step = logged
    url = BASE.format(number=build.number) + "/search?q=line+9"
    first = client.get(url + "&limit=3", headers=auth(tokens["read"])).get_json()
    assert [m["line"] for m in first["lines"]] == [9, 90, 91]
    assert first["count"] == 110  # 9, 90-99 and 900-999 but 990 (it says NEEDLE)
    later = client.get(url + "&after=91&limit=3", headers=auth(tokens["read"])).get_json()
    assert [m["line"] for m in later["lines"]] == [92, 93, 94]
    assert later["count"] == 110 - 3


def test_a_search_pass_stops_within_its_budget_and_resumes(client, tokens, logged, monkeypatch):
    build, _step = logged
    monkeypatch.setattr(log_api, "SEARCH_SCAN_BYTES", 1)  # one chunk per pass
    url = BASE.format(number=build.number) + "/search?q=needle"
    after, seen, passes = 0, [], 0
    while after is not None:
        page = client.get(f"{url}&after={after}", headers=auth(tokens["read"])).get_json()
        seen += [m["line"] for m in page["lines"]]
        assert page["complete"] == (page["next"] is None)
        after = page["next"]
        passes += 1
    assert (seen, passes) == ([10, 990], 3)


def test_line_ranges_agree_with_the_tail(client, stores, tokens, logged):
    build, step = logged
    url = BASE.format(number=build.number)
    got = client.get(url + "/lines?from=330&count=5", headers=auth(tokens["read"])).get_json()
    assert got["first_line"] == 330
    assert got["lines"] == [f"line {i}" for i in range(330, 335)]
    assert got["more"] is True
    tail = stores.logs.tail(step.id, max_bytes=10**6, max_lines=400)
    again = client.get(
        f"{url}/lines?from={tail.first_line}&count=400", headers=auth(tokens["read"])
    ).get_json()
    assert again["lines"] == tail.lines and again["more"] is False
    assert again["lines"][700 - tail.first_line] == "fetch done"
    past = client.get(url + "/lines?from=1001&count=5", headers=auth(tokens["read"])).get_json()
    assert (past["lines"], past["more"]) == ([], False)


def test_numbers_count_from_the_first_line_kept_after_the_cap_cut_the_head(
    client, stores, repo, tokens
):
    build = seed_build(stores, repo)
    step = build.stages[0].steps[0]
    stores.logs.cap_bytes = 4000
    for seq in range(10):  # 10 chunks of 100 lines (~1,000 bytes each): the first 7 go
        chunk = "".join(f"row {seq * 100 + i}\n" for i in range(100)).encode()
        stores.logs.append(step.id, seq, chunk)
    stores.steps.update(step.id, status="success")
    assert stores.logs.size(step.id)[1] > 0
    tail = stores.logs.tail(step.id, max_bytes=10**6, max_lines=10**6)
    url = BASE.format(number=build.number)
    got = client.get(url + "/lines?from=1&count=1000", headers=auth(tokens["read"])).get_json()
    assert tail.first_line == 1 and got["lines"] == tail.lines
    assert got["cut_bytes"] > 0
    hit = client.get(url + "/search?q=row+950", headers=auth(tokens["read"])).get_json()
    line = hit["lines"][0]["line"]
    assert tail.lines[line - tail.first_line] == "row 950"


def test_a_private_repository_log_is_refused_to_a_caller_without_a_role(
    client, stores, repo, tokens, logged
):
    build, _step = logged
    stores.repos.update(repo.id, private=True)
    url = BASE.format(number=build.number)
    for path in ("/search?q=line", "/lines?from=1&count=5"):
        for caller in ("none", "outsider"):
            refused = client.get(url + path, headers=auth(tokens[caller]))
            assert refused.status_code in (401, 404), (caller, path, refused.status_code)
            assert "line" not in refused.get_data(as_text=True).replace("line number", "")
        assert client.get(url + path, headers=auth(tokens["read"])).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "/search",
        "/search?q=",
        "/search?q=%20%20",
        "/search?q=" + "x" * 201,
        "/search?q=a&limit=100000",
        "/search?q=a&limit=0",
        "/search?q=a&limit=ten",
        "/search?q=a&after=-1",
        "/search?q=a&after=99999999999999999999",
        "/lines?from=0",
        "/lines?from=abc",
        "/lines?from=1&count=1001",
        "/lines?from=1&count=0",
        "/lines?from=1.5",
    ],
)
def test_bad_or_huge_arguments_are_a_400_naming_the_field(client, tokens, logged, query):
    build, _step = logged
    resp = client.get(BASE.format(number=build.number) + query, headers=auth(tokens["read"]))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    message = resp.get_json()["error"]
    assert any(name in message for name in ("q ", "q (", "limit", "after", "from", "count"))


def test_the_stream_sends_a_progress_bar_as_one_line_stored_or_live(
    client, stores, services, repo, tokens
):
    build = seed_build(stores, repo)
    step = build.stages[0].steps[0]
    stores.logs.append(step.id, 0, b"get 10%\rget 90%\rget done\r\nnext\n")
    subscription = services.livelog.subscribe(step.id, 0, timeout=0.1)
    services.livelog.publish(step.id, 1, b"live 1%\rlive ok\n")
    stores.steps.update(step.id, status="success")
    body = client.get(
        BASE.format(number=build.number) + "/stream", headers=auth(tokens["read"])
    ).get_data(as_text=True)
    assert "data: get done\ndata: next\n" in body and "\r" not in body
    assert next(iter(subscription)) == (1, ["live ok"], None)
    subscription.close()
