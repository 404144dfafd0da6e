"""One reader of ``k=v`` labels (runner.labels.parse_labels): the settings
(``RUNNER_AGENT_LABELS``), ``runner agent --labels`` and the web UI's label field read the same
text to the same labels and refuse the same mistakes with the label named."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from runner.commands.agent import agent
from runner.labels import parse_labels
from runner.settings import load_settings
from webui.forms import Form

TEXT = " env=production, !env=production,,arch=linux/* "
LABELS = {"env": "production", "!env": "production", "arch": "linux/*"}


def test_settings_form_and_reader_give_the_same_labels(tmp_path):
    environ = {"RUNNER_DATA_DIR": str(tmp_path), "RUNNER_AGENT_LABELS": TEXT}
    assert parse_labels(TEXT) == LABELS
    assert load_settings(environ=environ).agent_labels == LABELS
    form = Form({"labels": TEXT})
    assert form.labels("labels") == LABELS and form.ok


@pytest.mark.parametrize(("text", "named"), [("env=ci,gpu", "'gpu'"), ("=ci", "has no key")])
def test_every_reader_refuses_a_label_without_key_or_value_sign(tmp_path, text, named):
    with pytest.raises(ValueError, match=named):
        parse_labels(text)
    with pytest.raises(ValueError, match=named):
        load_settings(environ={"RUNNER_DATA_DIR": str(tmp_path), "RUNNER_AGENT_LABELS": text})
    form = Form({"labels": text})
    assert form.labels("labels") == {}
    assert named in form.errors["labels"]
    result = CliRunner().invoke(agent, ["--labels", text, "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert named in result.output


def test_a_yaml_list_item_that_is_no_text_is_refused_not_a_crash():
    with pytest.raises(ValueError, match="label 3 is not key=value"):
        parse_labels(["env=ci", 3])
