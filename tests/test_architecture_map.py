"""docs/architecture.md, the newcomer's map from webhook to container: at most a dozen files,
each of which exists, and every path the page names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "architecture.md"


def _path_rows() -> list[str]:
    text = PAGE.read_text()
    section = text.split("## Layers", 1)[0]
    return re.findall(r"^\| \d+ \| `([^`]+)` \|", section, flags=re.M)


def test_the_webhook_to_container_path_is_at_most_a_dozen_files_that_exist():
    rows = _path_rows()
    assert 8 <= len(rows) <= 12, rows
    missing = [p for p in rows if not (ROOT / p).is_file()]
    assert missing == []


def test_every_file_the_page_names_exists():
    named = set(re.findall(r"`((?:runner|webui|scripts|tests)/[\w/.]+)`", PAGE.read_text()))
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert missing == []
