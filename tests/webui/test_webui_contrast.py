"""The pages' colours meet WCAG AA in the light and the dark theme, for every colour pair the
stylesheet uses, including the statuses no seeded page happens to show: text and status badges
at least 4.5:1 on every background they sit on, the primary button's and the pressed theme
button's labels 4.5:1, focus rings and the borders of buttons and form fields 3:1. (axe-core
checks the rendered pages, test_webui_accessibility.py; this checks the palette itself.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).parents[2] / "webui" / "static" / "app.css").read_text()

TEXT = ["fg", "muted", "link", "ok", "bad", "run", "wait", "off"]
BACKGROUNDS = ["bg", "panel", "current"]
PAIRS = [(fg, bg, 4.5) for fg in TEXT for bg in BACKGROUNDS] + [
    ("primary-fg", "primary-bg", 4.5),
    ("on-link", "link", 4.5),
    ("focus", "bg", 3.0),
    ("focus", "panel", 3.0),
    ("field-border", "bg", 3.0),
    ("field-border", "panel", 3.0),
]


def palette(theme: str) -> dict[str, str]:
    """The colour variables of ``theme`` ("light": the plain :root; "dark": the picked dark)."""
    if theme == "light":
        block = re.search(r"^:root \{([^}]*)\}", CSS, re.M).group(1)
    else:
        block = re.search(r':root\[data-theme="dark"\] \{([^}]*)\}', CSS).group(1)
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6});", block))


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_matches_the_wcag_examples():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#ffffff", "#3fb950"), 2) == 2.54  # the old dark primary button


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_colour_pair_of_the_theme_meets_aa(theme):
    colours = palette(theme)
    failing = [
        f"--{fg} on --{bg}: {contrast(colours[fg], colours[bg]):.2f} < {needed}"
        for fg, bg, needed in PAIRS
        if contrast(colours[fg], colours[bg]) < needed
    ]
    assert not failing, failing


def test_buttons_and_fields_use_the_colours_checked_here():
    assert "button.primary { background: var(--primary-bg)" in CSS
    assert re.search(r"button, \.button \{[^}]*border: 1px solid var\(--field-border\)", CSS)
    assert re.search(r"input, select, textarea \{[^}]*border: 1px solid var\(--field-border\)", CSS)
    assert re.search(r":focus-visible \{ outline: 2px solid var\(--focus\)", CSS)
    # The selected step is marked by a bar, never by a background its status must contrast with.
    assert '.step > a[aria-current="true"] { box-shadow: inset 4px 0 0 var(--link); }' in CSS
