"""YAML reading: lines, anchors, << merges, sequence merges, duplicate keys, odd files."""

import pytest

from runner.errors import PipelineError
from runner.pipeline.issues import IssueList
from runner.pipeline.yamlload import load_documents, to_text


def load(text):
    issues = IssueList("f.yml")
    return load_documents(text, "f.yml", issues), issues


def test_lines_of_keys_and_items():
    docs, _ = load("a: 1\nsteps:\n  - one\n  - two\n")
    doc, first_line = docs[0]
    assert first_line == 1
    assert doc.line_of("steps") == 2
    assert doc["steps"].line_of(1) == 4


def test_anchor_and_merge_keys_explicit_wins():
    docs, _ = load("base: &b\n  image: alpine\n  pull: always\nstep:\n  <<: *b\n  pull: never\n")
    step = docs[0][0]["step"]
    assert step == {"image": "alpine", "pull": "never"}


def test_woodpecker_sequence_merge_splices_the_list():
    text = (
        "vars:\n  - &setup\n    - apk add git\n    - git config x\n"
        "cmds:\n  - first\n  - <<: *setup\n  - last\n"
    )
    docs, _ = load(text)
    assert docs[0][0]["cmds"] == ["first", "apk add git", "git config x", "last"]


def test_duplicate_key_is_a_warning_and_the_last_wins():
    docs, issues = load("pipeline:\n  a:\n    image: one\n    image: two\n")
    assert docs[0][0]["pipeline"]["a"]["image"] == "two"
    assert [(i.level, i.line, i.path) for i in issues] == [("warning", 4, "pipeline.a.image")]


def test_a_top_level_step_map_keeps_a_key_written_twice_in_file_order():
    docs, issues = load("pipeline:\n  a:\n    image: one\n  b: {}\n  a:\n    image: two\n")
    entries = docs[0][0]["pipeline"].entries()
    assert [(key, line) for key, _, line in entries] == [("a", 2), ("b", 4), ("a", 5)]
    assert [value.get("image") for _, value, _ in entries] == ["one", None, "two"]
    assert list(issues) == []


def test_crlf_no_final_newline_document_end_and_json():
    docs, _ = load("kind: pipeline\r\nname: a\r\n...\r\n---\r\nkind: pipeline\r\nname: b")
    assert [d["name"] for d, _ in docs] == ["a", "b"]
    docs, _ = load('{\n  "steps": [\n    {"name": "x", "image": "bash"}\n  ]\n}')
    assert docs[0][0]["steps"][0]["image"] == "bash"


def test_numbers_keep_their_text():
    docs, _ = load("v: 3.10\nu: 22.04\nn: 007\n")
    doc = docs[0][0]
    assert [to_text(doc[k]) for k in ("v", "u", "n")] == ["3.10", "22.04", "007"]


def test_malformed_yaml_is_one_error_with_the_line():
    with pytest.raises(PipelineError) as info:
        load("kind: pipeline\nsteps:\n  - name: a\n   image: b\n")
    assert info.value.line == 4
    assert "invalid YAML" in str(info.value)


def test_alias_bomb_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(PipelineError, match="over the limit of"):
        load("\n".join(lines) + "\n")


def test_sequence_merge_of_an_anchored_list_of_steps_and_map_merge_of_inline_aliases():
    text = (
        "common: &common\n  - name: a\n    image: x\n  - name: b\n    image: y\n"
        "base: &base {image: z}\nextra: &extra {pull: always}\n"
        "steps:\n  - <<: *common\n  - name: c\n    image: w\n"
        "one:\n  - <<: [*base, *extra]\n"
    )
    doc = load(text)[0][0][0]
    assert [s["name"] for s in doc["steps"]] == ["a", "b", "c"]
    assert doc["one"] == [{"image": "z", "pull": "always"}]
