"""The shared plugin library: setting names and value forms as the runner exports them,
masking of secrets (multi-line too), templates over the build data, the one-line exit."""

from __future__ import annotations

import json

import pytest
from plugin_kit import build, output
from plugin_kit.settings import SettingError, Settings, env_name


def test_setting_names_follow_the_runner():
    assert env_name("build-args") == "PLUGIN_BUILD_ARGS"
    assert env_name("cache.control") == "PLUGIN_CACHE_CONTROL"


def test_value_forms():
    s = Settings(
        {
            "PLUGIN_TAGS": "1.2.3, 1.2,1",
            "PLUGIN_JSON_LIST": '["a", "b,c"]',
            "PLUGIN_HEADERS": '{"X-A": "1", "X-N": 2}',
            "PLUGIN_BUILD_ARGS": "A=1,B=x=y",
            "PLUGIN_DRY_RUN": "True",
            "PLUGIN_EMPTY": "",
            "PLUGIN_RETRIES": "three",
        }
    )
    assert s.list("tags") == ["1.2.3", "1.2", "1"]
    assert s.list("json_list") == ["a", "b,c"]
    assert s.map("headers") == {"X-A": "1", "X-N": "2"}
    assert s.map("build_args") == {"A": "1", "B": "x=y"}
    assert s.bool("dry_run") and not s.bool("purge") and s.bool("purge", default=True)
    assert s.get("empty", "tags") == "1.2.3, 1.2,1"  # empty counts as unset: next alias
    with pytest.raises(SettingError, match="'retries' must be a whole number"):
        s.int("retries")


def test_missing_setting_names_the_variable_and_the_aliases():
    with pytest.raises(SettingError) as err:
        Settings({}).require("secret_key", "access_key_secret")
    assert str(err.value) == (
        "missing required setting 'secret_key' (or access_key_secret): add it under "
        "settings: of the step (PLUGIN_SECRET_KEY)"
    )


def test_secrets_are_masked_line_by_line(capsys):
    s = Settings({"PLUGIN_KEY": "-----BEGIN KEY-----\nMIIEabc123\n-----END KEY-----"})
    s.secret("key")
    output.say("got MIIEabc123 and -----END KEY----- here")
    assert capsys.readouterr().out == "got ****** and ****** here\n"


def test_run_turns_failures_into_one_line(capsys):
    def broken():
        raise output.PluginError("the thing failed: do this")

    with pytest.raises(SystemExit) as stop:
        output.run(broken)
    assert stop.value.code == 1
    assert capsys.readouterr().out == "error: the thing failed: do this\n"


def test_templates_fill_build_data_and_escape_json():
    env = {
        "DRONE_REPO": "team/app",
        "DRONE_BUILD_NUMBER": "7",
        "DRONE_COMMIT_MESSAGE": 'fix "quotes"\nand lines',
        "DRONE_TAG": "v2.0.0",
    }
    variables = build.build_vars(env)
    assert (variables["repo.owner"], variables["repo.name"]) == ("team", "app")
    text = build.render(
        '{"n": {{ build.number }}, "m": "{{ build.message }}", '
        '"t": "${DRONE_TAG}", "x": "{{ nope }}"}',
        variables,
        env,
        escape=build.json_escape,
    )
    assert json.loads(text) == {"n": 7, "m": 'fix "quotes"\nand lines', "t": "v2.0.0", "x": ""}
