"""The installed package carries the migrations, templates and static files the server needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_migrations_and_web_ui_files(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "runner/store/migrations/env.py",
        "runner/store/migrations/script.py.mako",
        "webui/templates/base.html",
        "webui/static/app.css",
    }
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    assert any(n.startswith("runner/store/migrations/versions/0001") for n in names)
