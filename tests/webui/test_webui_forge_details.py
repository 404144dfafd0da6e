"""Forge details on the pages (test client, real store): a pull request build shows its number,
source and target branch and links to the forge on its page and in the builds list; a URL
from a webhook becomes an href or an avatar's src only when it is http(s) (never
``javascript:``/``data:``), escaped; the home page keeps a pull request's result apart from its
base branch; the builds list and the API filter by branch prefix and pull request number, and
a bad filter is a 400."""

from __future__ import annotations

import re
import time

import pytest

from runner.core import Build, Stage, Step

EVIL = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/x",
    "vbscript:msgbox(1)",
]


def _build(stores, repo, *, event="push", branch="main", status="success", **context) -> Build:
    now = time.time()
    build = Build(
        id=0,
        repo_id=repo.id,
        number=0,
        event=event,
        status=status,
        branch=branch,
        commit="fedcba9876543210fedcba9876543210fedcba98",
        message="Change things",
        author="bob",
        context=context,
        created=now - 30,
        started=now - 20,
        finished=now - 2,
    )
    stage = Stage(id=0, build_id=0, number=1, name="build", status=status)
    stage.steps.append(Step(id=0, stage_id=0, number=1, name="test", status=status))
    build.stages.append(stage)
    return stores.builds.create(build)


def _pr(stores, repo, number, *, status="failure", **context) -> Build:
    fields = {
        "pull_request": number,
        "source_branch": f"feature/{number}",
        "target_branch": "main",
        "link": f"https://forge.example/acme/web/pull/{number}",
        "author_avatar": "https://avatars.example/u/9?v=4",
    }
    fields.update(context)
    return _build(stores, repo, event="pull_request", status=status, **fields)


def _hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def _srcs(html: str) -> list[str]:
    return re.findall(r'src="([^"]*)"', html)


def test_a_pull_request_build_shows_its_number_branches_links_and_avatar(client_as, stores, seeded):
    build = _pr(stores, seeded.repo, 42)
    page = client_as("reader").get(f"/repos/acme/web/{build.number}").get_data(as_text=True)
    head = page[page.index('id="build-head"') :]
    head = head[: head.index("</div>")]
    link = '<a href="https://forge.example/acme/web/pull/42" rel="noopener noreferrer">PR #42</a>'
    assert link in head
    assert ">feature/42</span> → <span" in head
    avatar = re.search(r"<img class=\"avatar\"[^>]*>", head).group(0)
    assert 'src="https://avatars.example/u/9?v=4"' in avatar
    assert 'alt="avatar of bob"' in avatar and 'referrerpolicy="no-referrer"' in avatar
    assert 'width="20" height="20"' in avatar

    rows = client_as("reader").get("/repos/acme/web").get_data(as_text=True)
    row = re.search(rf'<tr data-number="{build.number}">.*?</tr>', rows, re.S).group(0)
    assert 'href="https://forge.example/acme/web/pull/42"' in row
    assert "PR #42" in row and "feature/42 → main" in row
    assert 'src="https://avatars.example/u/9?v=4"' in row


def test_a_push_links_its_commit_to_the_forge(client_as, stores, seeded):
    url = "https://forge.example/acme/web/commit/fedcba9876543210fedcba9876543210fedcba98"
    build = _build(stores, seeded.repo, link=url, changed_files=["src/app.py", "README.md"])
    page = client_as("reader").get(f"/repos/acme/web/{build.number}").get_data(as_text=True)
    assert f'<a class="mono" id="build-commit" href="{url}"' in page
    assert ">fedcba9876</a>" in page
    changed = page[page.index('id="changed-files"') :]
    assert "<li>src/app.py</li><li>README.md</li>" in changed
    assert 'href="#changed-files">Changed files (2)</a>' in page


@pytest.mark.parametrize("evil", EVIL)
def test_a_webhook_url_that_is_not_http_is_never_an_href_or_src(client_as, stores, seeded, evil):
    pr = _pr(stores, seeded.repo, 5, link=evil, author_avatar=evil)
    push = _build(stores, seeded.repo, link=evil, author_avatar=evil)
    reader = client_as("reader")
    pages = [
        reader.get(f"/repos/acme/web/{pr.number}").get_data(as_text=True),
        reader.get(f"/repos/acme/web/{push.number}").get_data(as_text=True),
        reader.get("/repos/acme/web").get_data(as_text=True),
        reader.get("/repos/acme/web/builds.json").get_json()["html"],
    ]
    for html in pages:
        for url in _hrefs(html) + _srcs(html):
            assert url.startswith(("/", "#", "https://", "http://", "?")), url
            assert "script" not in url.lower() and not url.startswith("//"), url
    assert "PR #5" in pages[0]  # the number is still shown, without a link
    assert 'class="avatar"' not in pages[0] + pages[1] + pages[2]


def test_an_http_url_with_markup_is_escaped_in_the_attribute(client_as, stores, seeded):
    link = 'https://forge.example/pull/1"><script>window.__xss=1</script>'
    build = _pr(stores, seeded.repo, 1, link=link, author_avatar=link)
    page = client_as("reader").get(f"/repos/acme/web/{build.number}").get_data(as_text=True)
    assert "<script>window.__xss" not in page
    assert 'href="https://forge.example/pull/1&#34;&gt;&lt;script&gt;' in page


def test_the_home_page_keeps_a_pull_requests_failure_off_its_base_branch(client_as, stores, seeded):
    for build in stores.builds.page_of_repo(seeded.repo.id, per_page=100):
        stores.builds.delete(build.id)
    _build(stores, seeded.repo, branch="main", status="success")
    _pr(stores, seeded.repo, 12, status="failure")
    html = client_as("reader").get("/").get_data(as_text=True)
    card = html[html.index('data-repo="acme/web"') :]
    branches = card[card.index('aria-label="Last build per branch"') :]
    branches = branches[: branches.index("</div>")]
    pulls = card[card.index('aria-label="Last build per pull request"') :]
    pulls = pulls[: pulls.index("</div>")]
    assert 'data-status="success"' in branches and 'data-status="failure"' not in branches
    assert "PR #12" not in branches
    assert 'data-status="failure"' in pulls and "PR #12 feature/12" in pulls


def _numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-number="(\d+)">', html)]


def test_the_builds_list_filters_by_branch_prefix_and_pull_request(client_as, stores, seeded):
    one = _build(stores, seeded.repo, branch="release/1.0")
    two = _build(stores, seeded.repo, branch="release/2.0")
    _build(stores, seeded.repo, branch="releases")
    pr7 = _pr(stores, seeded.repo, 7)
    _pr(stores, seeded.repo, 8)
    reader = client_as("reader")
    page = reader.get("/repos/acme/web?branch=release/*").get_data(as_text=True)
    assert _numbers(page) == [two.number, one.number]
    assert 'value="release/*"' in page  # the form shows the filter chosen
    assert _numbers(reader.get("/repos/acme/web?pull_request=7").get_data(as_text=True)) == [
        pr7.number
    ]
    assert _numbers(reader.get("/repos/acme/web?pull_request=%237").get_data(as_text=True)) == [
        pr7.number
    ]
    polled = reader.get("/repos/acme/web/builds.json?branch=release/*").get_json()["html"]
    assert _numbers(polled) == [two.number, one.number]
    for bad in ("pull_request=seven", "pull_request=0", "branch=re*lease", "branch=" + "b" * 301):
        resp = reader.get(f"/repos/acme/web?{bad}")
        assert resp.status_code == 400, bad


def test_the_api_filters_by_branch_prefix_and_pull_request(app, stores, seeded):
    one = _build(stores, seeded.repo, branch="release/1.0")
    pr7 = _pr(stores, seeded.repo, 7)
    _, token = stores.tokens.create("t", kind="user", user_id=stores.users.find("reader").id)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def numbers(query: str) -> list[int]:
        resp = client.get(f"/api/v1/repos/acme/web/builds?{query}", headers=headers)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return [b["number"] for b in resp.get_json()]

    assert numbers("branch=release/*") == [one.number]
    assert numbers("pull_request=7") == [pr7.number]
    resp = client.get("/api/v1/repos/acme/web/builds?pull_request=x", headers=headers)
    assert resp.status_code == 400 and "pull_request" in resp.get_json()["error"]
