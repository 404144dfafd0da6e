"""Builds: created with stages and steps in one go, numbered per repository (numbers reserved
atomically, given back while last), paged; the stage spec read back as saved."""

from __future__ import annotations

import threading

import pytest

from runner.core import ERROR, PENDING, SUCCESS, Build
from runner.errors import BadRequest, Conflict, NotFound
from runner.pipeline.spec import StageSpec, StepSpec
from runner.store import BuildStore, Database, stage_from_spec

from .helpers import make_build, make_stage


def test_create_returns_build_with_stages_and_steps(stores, repo):
    build = stores.builds.create(
        make_build(repo.id, make_stage("test", number=1), make_stage("deploy", number=2))
    )
    assert build.id > 0 and build.number == 1
    assert build.status == PENDING
    assert [s.name for s in build.stages] == ["test", "deploy"]
    assert [st.name for st in build.stages[0].steps] == ["clone", "test"]
    assert all(st.stage_id == build.stages[0].id for st in build.stages[0].steps)
    assert build.context == {"repo": "acme/app", "branch": "main"}
    assert stores.builds.get(build.id) == build
    assert stores.builds.get_by_number(repo.id, 1) == build


def test_numbers_count_per_repository(stores, repo):
    other = stores.repos.create("acme/other")
    numbers = [stores.builds.create(make_build(repo.id)).number for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert stores.builds.create(make_build(other.id)).number == 1


def test_concurrent_creates_get_distinct_numbers(stores, repo):
    numbers: list[int] = []
    lock = threading.Lock()

    def create():
        for _ in range(5):
            number = stores.builds.create(make_build(repo.id)).number
            with lock:
                numbers.append(number)

    pool = [threading.Thread(target=create) for _ in range(6)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(60)
    assert sorted(numbers) == list(range(1, 31))


def test_error_build_without_stages(stores, repo):
    build = make_build(repo.id)
    build.stages = []
    build.status = ERROR
    build.error = ".drone.yml:3: unknown key"
    saved = stores.builds.create(build)
    assert saved.status == ERROR and saved.stages == []
    assert stores.builds.get(saved.id).error == ".drone.yml:3: unknown key"


def test_stage_from_spec_makes_a_step_per_spec_step():
    spec = StageSpec(
        name="backend",
        number=2,
        labels={"os": "linux"},
        depends_on=["lint"],
        steps=[StepSpec(name="clone", image="git", kind="clone"), StepSpec(name="t", image="b")],
    )
    stage = stage_from_spec(spec)
    assert (stage.name, stage.number, stage.labels, stage.depends_on) == (
        "backend",
        2,
        {"os": "linux"},
        ["lint"],
    )
    assert [s.name for s in stage.steps] == ["clone", "t"]
    assert stage.spec == spec


def test_list_pages_and_filters(stores, repo):
    for i in range(7):
        build = make_build(repo.id, branch="main" if i % 2 == 0 else "dev")
        build.event = "push" if i < 5 else "tag"
        stores.builds.create(build)
    page1 = stores.builds.page_of_repo(repo.id, page=1, per_page=3)
    page2 = stores.builds.page_of_repo(repo.id, page=2, per_page=3)
    page3 = stores.builds.page_of_repo(repo.id, page=3, per_page=3)
    assert [b.number for b in page1 + page2 + page3] == [7, 6, 5, 4, 3, 2, 1]
    assert [b.number for b in stores.builds.page_of_repo(repo.id, branch="dev")] == [6, 4, 2]
    assert [b.number for b in stores.builds.page_of_repo(repo.id, event="tag")] == [7, 6]
    assert stores.builds.count(repo.id) == 7
    assert stores.builds.count(repo.id, branch="main", event="push") == 3
    assert stores.builds.page_of_repo(repo.id, status=SUCCESS) == []
    assert page1[0].stages == []
    assert stores.builds.page_of_repo(repo.id, per_page=1, with_stages=True)[0].stages
    with pytest.raises(BadRequest):
        stores.builds.page_of_repo(repo.id, page=0)


def test_reserved_numbers_are_distinct_and_consecutive_across_connections(database_url, repo):
    # Each thread on its own Database: as many servers reserving on one database at once.
    databases = [Database(database_url) for _ in range(4)]
    numbers: list[int] = []
    lock = threading.Lock()

    def reserve(db):
        for _ in range(10):
            number = BuildStore(db).reserve_number(repo.id)
            with lock:
                numbers.append(number)

    pool = [threading.Thread(target=reserve, args=(db,)) for db in databases]
    try:
        for t in pool:
            t.start()
        for t in pool:
            t.join(60)
    finally:
        for db in databases:
            db.dispose()
    assert sorted(numbers) == list(range(1, 41))


def test_a_build_keeps_the_number_reserved_for_it(stores, repo):
    first, second = stores.builds.reserve_number(repo.id), stores.builds.reserve_number(repo.id)
    build = make_build(repo.id)
    build.number = second
    assert stores.builds.create(build).number == 2
    build.number = first
    assert stores.builds.create(build).number == 1
    assert stores.builds.create(make_build(repo.id)).number == 3  # 0: the next one
    with pytest.raises(Conflict):
        stores.builds.create(build)


def test_a_released_number_is_given_again_only_while_it_is_the_last(stores, repo):
    number = stores.builds.reserve_number(repo.id)
    assert stores.builds.release_number(repo.id, number) is True
    assert stores.builds.reserve_number(repo.id) == number == 1
    later = stores.builds.reserve_number(repo.id)
    assert stores.builds.release_number(repo.id, 1) is False  # 2 was handed out meanwhile
    assert stores.builds.reserve_number(repo.id) == later + 1
    with pytest.raises(NotFound):
        stores.builds.reserve_number(12345)


def test_the_stage_spec_comes_back_as_it_was_saved(stores, repo):
    spec = StageSpec(
        name="backend",
        steps=[StepSpec(name="t", image="b", commands=["make"], environment={"A": "1"})],
    )
    saved = stores.builds.create(make_build(repo.id, stage_from_spec(spec)))
    assert stores.builds.get(saved.id).stages[0].spec == spec
    assert stores.stages.get(saved.stages[0].id).spec == spec


def test_missing_builds_raise_not_found(stores, repo):
    with pytest.raises(NotFound):
        stores.builds.get(12345)
    with pytest.raises(NotFound):
        stores.builds.get_by_number(repo.id, 9)
    with pytest.raises(NotFound):
        stores.builds.create(Build(id=0, repo_id=999, number=0, event="push"))


def test_active_lists_unfinished_builds(stores, repo):
    first = stores.builds.create(make_build(repo.id))
    second = stores.builds.create(make_build(repo.id))
    stores.builds.cancel(first.id)
    assert [b.id for b in stores.builds.active()] == [second.id]


def test_delete_removes_build_with_logs(stores, repo):
    build = stores.builds.create(make_build(repo.id))
    step_id = build.stages[0].steps[0].id
    stores.logs.append(step_id, 0, b"x\n")
    stores.builds.delete(build.id)
    with pytest.raises(NotFound):
        stores.builds.get(build.id)
    with pytest.raises(NotFound):
        stores.steps.get(step_id)


def _pull_request_build(repo_id: int, number: int, base: str = "main") -> Build:
    build = make_build(repo_id, branch=base, event="pull_request")
    build.context = {"pull_request": number, "source_branch": f"feature-{number}"}
    return build


def test_filters_by_branch_prefix_and_pull_request(stores, repo):
    for branch in ("release/1.0", "release/2.0", "releases", "main", "rel%ease/x"):
        stores.builds.create(make_build(repo.id, branch=branch))  # 1..5
    stores.builds.create(_pull_request_build(repo.id, 7))  # 6
    stores.builds.create(_pull_request_build(repo.id, 8))  # 7
    stores.builds.create(_pull_request_build(repo.id, 7))  # 8

    def numbers(**filters):
        return [b.number for b in stores.builds.page_of_repo(repo.id, **filters)]

    assert numbers(branch_prefix="release/") == [2, 1]
    assert numbers(branch_prefix="release") == [3, 2, 1]
    # LIKE's wildcards in a prefix are plain characters.
    assert numbers(branch_prefix="rel%") == [5]
    assert numbers(branch_prefix="rel_ase") == []
    assert numbers(pull_request=7) == [8, 6]
    assert numbers(pull_request=7, branch_prefix="ma") == [8, 6]
    assert numbers(pull_request=9) == []
    assert stores.builds.count(repo.id, pull_request=8) == 1


def test_newest_per_branch_leaves_pull_requests_to_their_own_list(stores, repo):
    stores.builds.create(make_build(repo.id, branch="main"))  # 1
    stores.builds.create(_pull_request_build(repo.id, 7, base="main"))  # 2
    stores.builds.create(_pull_request_build(repo.id, 8, base="main"))  # 3
    stores.builds.create(_pull_request_build(repo.id, 7, base="main"))  # 4
    assert [b.number for b in stores.builds.newest_per_branch(repo.id)] == [1]
    newest = stores.builds.newest_per_pull_request(repo.id)
    assert [(b.number, b.context["pull_request"]) for b in newest] == [(4, 7), (3, 8)]
