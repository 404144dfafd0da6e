"""`runner server image`'s parts that need no engine: the libraries it fetches come from
setup.cfg and pyproject.toml, wheels for the base image's glibc are allowed in, and the build
context is the files the Dockerfile copies plus the wheelhouse. (The build itself, offline from
runner-test/python, is the stack test's first step: tests/e2e/test_stack.py.)"""

from __future__ import annotations

import configparser
import tarfile
from pathlib import Path

from runner.commands.plugin import build_context
from runner.commands.plugin_wheelhouse import Target
from runner.commands.server_image import server_requirements, source_root

ROOT = Path(__file__).resolve().parents[2]


def test_the_requirements_are_setup_cfgs_with_the_s3_extra_the_build_backend_and_pip():
    lines = server_requirements(ROOT).splitlines()
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = [x.strip() for x in config["options"]["install_requires"].splitlines() if x.strip()]
    assert lines[: len(declared)] == declared
    assert any(line.startswith("boto3") for line in lines)  # the s3 extra: logs in a bucket
    assert {"setuptools>=64", "wheel", "pip"} <= set(lines)
    assert not any(line.startswith(("pytest", "moto", "playwright")) for line in lines)


def test_the_dockerfile_installs_the_same_extra_it_is_fetched_for():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'extras_require"].get("s3"' in dockerfile


def test_a_glibc_target_takes_manylinux_wheels_up_to_its_version():
    plain = Target("3.11", "x86_64")
    newer = Target("3.11", "x86_64", glibc="2.36")
    platforms = [arg for arg in newer.pip_args() if arg.startswith("manylinux")]
    assert "manylinux_2_17_x86_64" in platforms and "manylinux_2_36_x86_64" in platforms
    assert "manylinux_2_37_x86_64" not in platforms
    # The plugins' targets stay as they were: manylinux2014 only, the same wheelhouse folder.
    assert [a for a in plain.pip_args() if a.startswith("manylinux")] == [
        "manylinux2014_x86_64",
        "manylinux_2_17_x86_64",
    ]
    assert plain.key == "cp311-glibc-x86_64" and newer.key == "cp311-glibc-x86_64-2.36"


def test_the_build_context_is_what_the_dockerfile_copies_and_the_wheels(tmp_path):
    (tmp_path / "only-0.1-py3-none-any.whl").write_bytes(b"")
    root = source_root()
    with build_context(root, tmp_path) as context, tarfile.open(fileobj=context) as tar:
        names = set(tar.getnames())
    assert {"Dockerfile", "setup.cfg", "pyproject.toml", "README.md"} <= names
    assert "runner/server/app.py" in names and "webui/templates/base.html" in names
    assert "wheels/only-0.1-py3-none-any.whl" in names
    copied = {"Dockerfile", ".dockerignore", "setup.cfg", "pyproject.toml", "README.md"}
    copied |= {"runner", "webui", "wheels"}
    assert {name.split("/")[0] for name in names} <= copied
    assert not any("__pycache__" in name for name in names)
