"""scripts/base-images.sh takes the Debian archive from the machine's own apt sources (one-line
``.list`` files and deb822 ``.sources``), never from a host name written in the script."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "base-images.sh"
# Reserved names (RFC 2606): no such archive exists anywhere.
MAIN = "http://archive.example.invalid/debian"
SECURITY = "http://security.example.invalid/debian-security"


def mirror_of(apt_etc: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), "--mirror"],
        env={"PATH": "/usr/bin:/bin", "APT_ETC": str(apt_etc)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def write(apt_etc: Path, name: str, text: str) -> None:
    path = apt_etc / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_deb822_sources_give_the_release_archive_not_security(tmp_path):
    write(
        tmp_path,
        "sources.list.d/debian.sources",
        f"Types: deb\nURIs: {SECURITY}\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://off.example.invalid/debian\nSuites: bookworm\nEnabled: no\n\n"
        f"Types: deb deb-src\n# a comment\nURIs: {MAIN}\nSuites: bookworm bookworm-updates\n"
        "Components: main\n",
    )
    result = mirror_of(tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, MAIN)


@pytest.mark.parametrize(
    "line",
    [
        f"deb {MAIN} bookworm main",
        f"deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] {MAIN} bookworm main contrib",
    ],
)
def test_one_line_sources_with_or_without_options(tmp_path, line):
    write(tmp_path, "sources.list", f"# local\ndeb-src {SECURITY} bookworm main\n{line}\n")
    result = mirror_of(tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, MAIN)


def test_another_release_archive_serves_when_none_names_bookworm(tmp_path):
    write(tmp_path, "sources.list.d/trixie.list", f"deb {MAIN} trixie main\n")
    assert mirror_of(tmp_path).stdout.strip() == MAIN


def test_no_source_is_an_error_that_says_so(tmp_path):
    result = mirror_of(tmp_path)
    assert result.returncode == 1
    assert "no Debian archive" in result.stderr


def test_the_script_names_no_host():
    assert re.findall(r"\w+://[^\s\"')]+", SCRIPT.read_text()) == []
