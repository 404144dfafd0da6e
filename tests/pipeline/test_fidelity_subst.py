"""Substitution is drone/envsubst's, operator by operator (Drone 0.8, Drone 1.x and Woodpecker
all run pipeline files through it before parsing them).

The version is v1.0.3, the one Drone's runners and Woodpecker pin in their go.mod (v2 differs
only in reading ``\\\\`` and ``\\/`` as one character inside ``${...}`` alone; three cases
below give v1.0.3's output). The tables are the cases of drone/envsubst's own tests, kept as
data here: ``eval_test.go``
(``TestExpand``: whole expressions with their variables and outputs), ``funcs_test.go`` (each
function on its own) and ``parse/parse_test.go`` (``TestParse``: what each form parses to, here
checked through its value), plus the forms envsubst refuses (``parse/parse.go``: ``parseFunc``
knows ``:``, ``=``, ``,``, ``^``, ``/``, ``#``, ``%`` after a name and nothing else). The
meaning of each operator is ``lookupFunc`` in ``template.go``: every default form
(``=``, ``:=``, ``:-``, ``:?``, ``:+``) is ``toDefault``, which takes the default when the value
is *empty*. Drone's variable lookup quotes a value holding a newline
(drone/drone-runner-docker ``command/compile.go``, the ``subf`` mapping passed to
``envsubst.Eval``); an unknown variable is empty (the mapping reads a Go map).
"""

import json
from pathlib import Path

import pytest

from runner.errors import PipelineError, SubstitutionError
from runner.pipeline.config import load_pipeline
from runner.pipeline.secret_subst import put_secrets
from runner.pipeline.spec import BuildContext
from runner.pipeline.substitute import substitute

FIDELITY = Path(__file__).parent / "fidelity" / "subst"

# drone/envsubst eval_test.go, TestExpand: (variables, input, output).
EVAL_CASES = [
    ({}, "abcdEFGH28ij", "abcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${#var01}", "12"),
    ({"var01": "abcdEFGH28ij"}, "${var01^}", "AbcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${var01^^}", "ABCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,}", "aBCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,,}", "abcdefgh28ij"),
    (
        {"path_name": "/home/bozo/ideas/thoughts.for.today"},
        "${path_name:11}",
        "ideas/thoughts.for.today",
    ),
    ({"path_name": "/home/bozo/ideas/thoughts.for.today"}, "${path_name:11:5}", "ideas"),
    ({"var": "abc"}, "${var=xyz}", "abc"),
    ({}, "${var=xyz}", "xyz"),
    ({"default_var": "foo"}, "something ${var=${default_var}}", "something foo"),
    ({"default_var": "foo1"}, "foo: ${var=${default_var}-suffix}", "foo: foo1-suffix"),
    ({"default_var": "foo1"}, "foo: ${var=prefix${default_var}-suffix}", "foo: prefixfoo1-suffix"),
    ({}, "${var:=xyz}", "xyz"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/%abc/XYZ}", "abcABC123ABCXYZ"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/#abc/XYZ}", "XYZABC123ABCabc"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ//abc/xyz}", "xyzABC123ABCxyz"),
    ({"stringZ": "abcABC123ABCabc"}, "${stringZ/abc/xyz}", "xyzABC123ABCabc"),
    ({"filename": "bash.string.txt"}, "${filename#*.}", "string.txt"),
    ({"filename": "path/to/file"}, "${filename#*/}", "to/file"),
    ({"filename": "/path/to/file"}, "${filename#*/}", "path/to/file"),
    ({"filename": "bash.string.txt"}, "${filename##*.}", "txt"),
    ({"filename": "path/to/file"}, "${filename##*/}", "file"),
    ({"filename": "/path/to/file"}, "${filename##*/}", "file"),
    ({"filename": "bash.string.txt"}, "${filename%.*}", "bash.string"),
    ({"filename": "bash.string.txt"}, "${filename%%.*}", "bash"),
    ({"var01": "abcdEFGH28ij"}, "${var=${var01^^}}", "ABCDEFGH28IJ"),
    ({"var01": "abcdEFGH28ij"}, "$${var01}", "${var01}"),
    (
        {"var01": "abcdEFGH28ij"},
        "some text ${var01}$${var$${var01}$var01${var01}",
        "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
    ),
    ({"default_var": "foo"}, "something $${var=${default_var}}", "something ${var=foo}"),
    ({"stringZ": "foo/bar"}, r"${stringZ/\//-}", "foo-bar"),
    ({"stringZ": "foo/bar/baz"}, r"${stringZ//\//-}", "foo-bar-baz"),
    # v2 keeps "\\\\" outside ${...}; v1.0.3, which Drone's runners and Woodpecker pin, reads
    # it as one backslash (parse/scan.go scanEscaped, active wherever scanEscape is).
    ({"default_var": "foo"}, "\\\\something ${var=${default_var}}", "\\something foo"),
    ({"stringZ": "foo.bar"}, "${stringZ/./}", "foobar"),
]

# drone/envsubst funcs_test.go: each function with its arguments, written as an expression.
FUNC_CASES = [
    ({"v": "Hello World"}, "${#v}", "11"),
    ({"v": "Hello World"}, "${v,,}", "hello world"),
    ({"v": "HELLO WORLD"}, "${v,}", "hELLO WORLD"),
    ({"v": ""}, "${v,}", ""),
    ({"v": "Hello World"}, "${v^^}", "HELLO WORLD"),
    ({"v": "hello world"}, "${v^}", "Hello world"),
    ({"v": ""}, "${v^}", ""),
    ({"v": "Hello World"}, "${v=Hola Mundo}", "Hello World"),
    ({"v": ""}, "${v=Hola Mundo}", "Hola Mundo"),
    ({"v": "123456789123456789"}, "${v:0:8}", "12345678"),
    ({"v": "123456789123456789"}, "${v:1:8}", "23456789"),
    ({"v": "123456789123456789"}, "${v:9}", "123456789"),
    ({"v": "123456789123456789"}, "${v:9:50}", "123456789"),
    ({"v": "123456789123456789"}, "${v:-3:2}", "123456789123456789"),  # ":-" is a default
    ({"v": "123456789123456789", "p": "-3"}, "${v:${p}:2}", "78"),
    ({"v": "123456789123456789", "p": "-300"}, "${v:${p}:3}", "123"),
    ({"v": "12345678"}, "${v:9:1}", ""),
]

# drone/envsubst parse/parse_test.go, TestParse: each form, with the value it stands for.
PARSE_VARS = {
    "string": "abcdef/ghi",
    "position": "2",
    "stringy": "xx123",
    "stringz": "DEF",
    "var": "V",
}
PARSE_CASES = [
    ("text", "text"),
    ("}text", "}text"),
    ("http://github.com", "http://github.com"),
    ("$${string}", "${string}"),
    ("$$string", "$string"),
    (r"\\.\pipe\pipename", r"\.\pipe\pipename"),  # v1.0.3: "\\" is one backslash
    ("${string}", "abcdef/ghi"),
    ("${string,}", "abcdef/ghi"),
    ("${string^^}", "ABCDEF/GHI"),
    ("${string:position}", "abcdef/ghi"),  # "position" is no integer: the value stays
    ("${string:position:length}", "abcdef/ghi"),
    ("${string#substring}", "abcdef/ghi"),
    ("${string%%substring}", "abcdef/ghi"),
    ("${string/substring/replacement}", "abcdef/ghi"),
    ("${string/%substring/replacement}", "abcdef/ghi"),
    ("${string=default}", "abcdef/ghi"),
    ("${string:?default}", "abcdef/ghi"),
    ("${string:+default}", "abcdef/ghi"),  # toDefault: the value, not the alternative
    ("${#string}", "10"),
    ("${string#$%:*{}", "abcdef/ghi"),
    ("hello ${#string} world", "hello 10 world"),
    (r"\\ hello ${#string} world \\", "\\ hello 10 world \\"),
    (r"${string/\/ghi/length}", "abcdeflength"),
    (r"${string/\/ghi\\/length}", "abcdef/ghi"),
    (r"${string/ghi/\/length}", "abcdef//length"),
    (r"${string/ghi/\/length\\}", "abcdef//length\\"),
    ("${string:${position}}", "cdef/ghi"),
    ("${string:${stringy:position:length}:${stringz,,}}", "abcdef/ghi"),
    ("${string#${stringz}}", "abcdef/ghi"),
    ("${string=${stringz}}", "abcdef/ghi"),
    ("${unset=prefix-${var}}", "prefix-V"),
    ("${unset=${var}-suffix}", "V-suffix"),
    ("${unset=prefix-${var}-suffix}", "prefix-V-suffix"),
    ("${unset=prefix${var} suffix}", "prefixV suffix"),
    ("${string//${stringy:0:2}/${stringz}}", "abcdef/ghi"),
    ("${string//${position}/${stringz}}", "abcdef/ghi"),
]

# The default forms on the values that matter for a pipeline: set, empty, unset.
DEFAULT_CASES = [
    (op, value, expected)
    for op in ("=", ":=", ":-", ":?", ":+")
    for value, expected in (("v1", "v1"), ("", "default"), (None, "default"))
]

# Forms envsubst cannot parse (parse/parse.go): Drone and Woodpecker refuse the file.
REFUSED = [
    "${VAR-default}",  # "-" and "+" without ":" are not known after a name
    "${VAR+alt}",
    "${VAR!}",
    "${}",
    "${#}",
    "${VAR#}",  # a remove function needs its pattern
    "${VAR:}",
    "${VAR/a}",  # a replace function needs the / after the text
    "${VAR#a${B}}",  # one argument only: a nested ${} ends it
    "${UNCLOSED",
    "${VAR=default",
]


@pytest.mark.parametrize("variables, text, expected", EVAL_CASES, ids=[c[1] for c in EVAL_CASES])
def test_envsubst_eval_cases_give_envsubst_output(variables, text, expected):
    assert substitute(text, variables) == expected


@pytest.mark.parametrize("variables, text, expected", FUNC_CASES, ids=[c[1] for c in FUNC_CASES])
def test_envsubst_function_cases_give_envsubst_output(variables, text, expected):
    assert substitute(text, variables) == expected


@pytest.mark.parametrize("text, expected", PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_envsubst_parse_cases_read_as_envsubst_reads_them(text, expected):
    assert substitute(text, PARSE_VARS) == expected


@pytest.mark.parametrize("op, value, expected", DEFAULT_CASES)
def test_every_default_form_replaces_an_empty_or_unset_value(op, value, expected):
    variables = {} if value is None else {"VAR": value}
    assert substitute(f"${{VAR{op}default}}", variables) == expected


@pytest.mark.parametrize("text", REFUSED)
def test_forms_envsubst_cannot_parse_are_refused_with_the_line(text):
    with pytest.raises(SubstitutionError) as info:
        substitute(f"a: 1\nb: {text}\n", {"VAR": "x"}, file=".drone.yml")
    assert info.value.line == 2


def test_remove_patterns_are_globs_where_star_crosses_slashes_and_match_one_character_at_least():
    # envsubst path/match.go: a star matches "/" too; funcs.go trimShortest never tries the
    # empty prefix, so "#*" removes one character.
    variables = {"V": "a/b/c.tar.gz"}
    assert substitute("${V#*/}|${V##*/}|${V%/*}|${V%%/*}", variables) == "b/c.tar.gz|c.tar.gz|a/b|a"
    assert substitute("${V#*}|${V##*}|${V%*}", variables) == "/b/c.tar.gz||a/b/c.tar.g"
    # "[!a]" is the class of "!" and "a" there: only "[^a]" negates.
    assert substitute("${V#[a-c]}|${V##[!a]*}|${V##[^a]*}|${V#\\a}", variables) == (
        "/b/c.tar.gz||a/b/c.tar.gz|/b/c.tar.gz"
    )


def test_a_value_with_a_newline_is_quoted_before_any_operator_sees_it():
    assert substitute("m: ${M}|${#M}", {"M": "a\nb"}) == 'm: "a\\nb"|6'


def test_golden_file_compiles_with_envsubst_defaults_for_the_tag_a_push_lacks():
    ctx = BuildContext(
        repo="acme/app",
        event="push",
        branch="main",
        ref="refs/heads/main",
        commit="5d2f8c1a9b3e4d6f7a8b9c0d1e2f3a4b5c6d7e8f",
        remote_url="https://git.example.com/acme/app.git",
    )
    text = (FIDELITY / "envsubst_defaults.yml").read_text(encoding="utf-8")
    build = load_pipeline({".drone.yml": text}, ctx)
    step = next(s for s in build.stages[0].steps if s.name == "publish")
    assert step.image == "runner-test/busybox:latest"
    env = step.environment
    assert env["EQUALS"] == "equals"
    assert env["COLON_EQUALS"] == "colon-equals"
    assert env["COLON_DASH"] == "colon-dash"
    assert env["COLON_PLUS"] == "colon-plus"
    assert env["SET_KEEPS"] == "main"
    assert env["SHORT_SHA"] == "5d2f8c1a"
    assert env["NOT_A_NUMBER"] == "main"
    assert env["REPO_NAME"] == "app"
    assert env["REPO_OWNER"] == "acme"
    assert env["SLUG"] == "acme-app"
    assert env["GLOB_IS_TEXT"] == "acme/app"
    assert env["UPPER"] == "MAIN"
    assert env["ESCAPED"] == "${DRONE_BRANCH}"


# Drone 0.8: secrets substituted into the file ------------------------------------------------

TAG_CTX = BuildContext(
    repo="ops/cmdb_api",
    event="tag",
    tag="v1.2.0",
    ref="refs/tags/v1.2.0",
    commit="a" * 40,
    remote_url="https://git.example.com/ops/cmdb_api.git",
)
SUBSTITUTABLE = ["DOCKER_PASSWORD", "DEPLOY_TOKEN", "http_proxy"]


def _drone08(ctx: BuildContext = TAG_CTX, names=SUBSTITUTABLE, file=".drone.yml"):
    text = (FIDELITY / "drone08_secret_in_file.yml").read_text(encoding="utf-8")
    build = load_pipeline({file: text}, ctx, substitutable=names)
    return {s.name: s for s in build.stages[0].steps}, build


def test_drone08_secret_in_the_file_becomes_a_reference_never_a_value():
    """Drone 0.5-0.8 replaced ``${NAME}`` of a --skip-verify secret in the file (its plugin
    docs: ``password: ${DOCKER_PASSWORD}``); here the spec keeps the name and the text around
    it, and the agent puts the value together (docs/security.md)."""
    steps, build = _drone08()
    publish, deploy = steps["publish"], steps["deploy"]
    assert "PLUGIN_PASSWORD" not in publish.environment
    assert [(r.env, r.parts) for r in publish.secrets] == [
        ("PLUGIN_PASSWORD", ["", "DOCKER_PASSWORD", ""])
    ]
    assert publish.environment["PLUGIN_USERNAME"] == ""  # DOCKER_USER is no such secret
    assert publish.environment["PLUGIN_TAGS"] == "latest,1.2.0"
    refs = {r.env: r for r in deploy.secrets}
    # ${deploy_token}: secret names are case-insensitive, the reference names the secret
    assert refs["TOKEN"].parts == ["", "DEPLOY_TOKEN", ""]
    assert refs["AUTH"].parts == ["bearer-", "DEPLOY_TOKEN", "-end"]
    assert deploy.environment["REGION"] == "cn-shanghai"
    # In commands the shell reads it from a variable: the script never holds the value.
    assert deploy.commands[1] == 'echo "proxy ${DRONE_SECRET_HTTP_PROXY}"'
    assert refs["DRONE_SECRET_HTTP_PROXY"].name == "http_proxy"
    stored = repr(build.to_dict())
    assert "\u27e6" not in stored and "secret." not in stored


def test_a_secret_in_a_map_setting_reaches_the_plugins_json():
    """Drone 0.8 substituted the text before reading the YAML, so ``${NAME}`` inside a list of
    maps (``logins: [{password: ${DOCKER_PASSWORD}}]``) is the value in the JSON the plugin
    reads. The spec keeps ``{"from_secret": NAME}`` there; the agent puts the text together,
    JSON-escaped (``plugin_settings.fill_secret``)."""
    text = (
        "pipeline:\n  publish:\n    image: plugins/foo\n    logins:\n"
        "      - registry: r.example.com\n        password: ${DOCKER_PASSWORD}\n"
        '        auth: "bearer ${DOCKER_PASSWORD}!"\n'
    )
    build = load_pipeline({".drone.yml": text}, TAG_CTX, substitutable=SUBSTITUTABLE)
    step = build.stages[0].steps[-1]
    stored = repr(build.to_dict())
    assert "secret." not in stored and "\\u27e6" not in stored
    assert json.loads(step.environment["PLUGIN_LOGINS"]) == [
        {
            "registry": "r.example.com",
            "password": {"from_secret": "docker_password"},
            "auth": {"from_secret": "docker_password"},
        }
    ]
    env = dict(step.environment)
    assert put_secrets(env, step.secrets, {"DOCKER_PASSWORD": 'p"w\\'}) == []
    assert json.loads(env["PLUGIN_LOGINS"]) == [
        {"registry": "r.example.com", "password": 'p"w\\', "auth": 'bearer p"w\\!'}
    ]


def test_pull_request_gets_nothing_substituted():
    ctx = BuildContext(
        repo="ops/cmdb_api", event="pull_request", branch="main", commit="a" * 40, fork=True
    )
    steps, _build = _drone08(ctx)
    assert steps["publish"].environment["PLUGIN_PASSWORD"] == ""
    assert steps["publish"].secrets == []
    assert steps["deploy"].environment["AUTH"] == "bearer--end"


def test_only_drone08_files_substitute_secrets():
    """Drone 1.x and Woodpecker substitute build variables only: drone-runner-docker
    ``command/compile.go`` and Woodpecker's ``StepBuilder.envsubst`` (its variables from
    ``StepBuilder.environmentVariables``: the metadata and the matrix axis) hand envsubst no
    secret, so ``${DOCKER_PASSWORD}`` there is an unknown variable."""
    text = (
        "kind: pipeline\ntype: docker\nname: default\nsteps:\n- name: publish\n"
        "  image: runner-test/busybox\n  environment:\n    P: ${DOCKER_PASSWORD}\n"
        "  commands: [echo]\n"
    )
    build = load_pipeline({".drone.yml": text}, TAG_CTX, substitutable=SUBSTITUTABLE)
    step = build.stages[0].steps[-1]
    assert step.environment["P"] == "" and step.secrets == []
    woodpecker = "steps:\n  publish:\n    image: x\n    environment:\n      P: ${DOCKER_PASSWORD}\n"
    build = load_pipeline({".woodpecker.yml": woodpecker}, TAG_CTX, substitutable=SUBSTITUTABLE)
    step = build.stages[0].steps[-1]
    assert step.environment["P"] == "" and step.secrets == []


@pytest.mark.parametrize("expression", ["${DOCKER_PASSWORD##x}", "${#DOCKER_PASSWORD}"])
def test_a_substituted_secret_is_refused_under_an_operator(expression):
    text = f"pipeline:\n  publish:\n    image: x\n    password: {expression}\n"
    with pytest.raises(PipelineError, match="only be substituted whole"):
        load_pipeline({".drone.yml": text}, TAG_CTX, substitutable=SUBSTITUTABLE)


def test_a_secret_substituted_into_the_image_is_refused():
    text = "pipeline:\n  publish:\n    image: app-${DOCKER_PASSWORD}\n    commands: [echo]\n"
    with pytest.raises(PipelineError, match="outside settings, environment values and commands"):
        load_pipeline({".drone.yml": text}, TAG_CTX, substitutable=SUBSTITUTABLE)


def test_placeholder_text_from_a_commit_message_is_never_resolved():
    # The placeholder carries a nonce made for each compilation: text cannot forge one.
    message = "\u27e6secret.0123456789abcdef.DOCKER_PASSWORD\u27e7"
    ctx = BuildContext(
        repo="ops/cmdb_api", event="push", branch="main", commit="a" * 40, message=message
    )
    text = "pipeline:\n  publish:\n    image: x\n    note: ${DRONE_COMMIT_MESSAGE}\n"
    build = load_pipeline({".drone.yml": text}, ctx, substitutable=SUBSTITUTABLE)
    step = build.stages[0].steps[-1]
    assert step.environment["PLUGIN_NOTE"] == message and step.secrets == []


def test_backslash_pairs_are_one_character_in_the_whole_file_as_in_envsubst_1_0_3():
    # parse/scan.go scanEscaped at v1.0.3: "\\" and "\/" wherever the scanner escapes, the
    # text between expressions included; any other backslash stays.
    assert substitute(r"sed 's/a\/b/' \\ \n \${X}", {"X": "v"}) == "sed 's/a/b/' \\ \\n \\v"


def test_lengths_and_positions_count_utf8_bytes_and_case_maps_one_character_to_one():
    # funcs.go toLen and toSubstr use len() and slices of a Go string (bytes); toUpper is
    # strings.ToUpper, which maps each rune to one rune.
    variables = {"V": "é1", "W": "straße"}
    assert substitute("${#V}|${V:2}|${V:0:2}|${W^^}", variables) == "3|1|é|STRAßE"
