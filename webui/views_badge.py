"""The SVG status badge of a repository (and branch), for READMEs.

``/badge/<owner>/<name>/status.svg?branch=NAME`` answers the status of the last build of the
branch (the default branch when none is given). Badges of public repositories need no login;
a private repository's badge is shown only to a session that may read it, else "unknown".
"""

from __future__ import annotations

from flask import Response, request
from flask.typing import ResponseReturnValue
from markupsafe import escape

from webui import data, webui_bp
from webui.session_auth import can

COLOURS = {
    "success": "#2da44e",
    "failure": "#cf222e",
    "error": "#cf222e",
    "killed": "#cf222e",
    "declined": "#cf222e",
    "running": "#bf8700",
    "pending": "#8250df",
    "blocked": "#8250df",
    "waiting": "#8250df",
}
GREY = "#6e7781"


def _width(text: str) -> int:
    # Verdana 11px averages about 6.5px a character; badges need not be exact.
    return int(len(text) * 6.5) + 12


def render_badge(label: str, status: str) -> str:
    """A flat two-part SVG badge; both texts are escaped (a branch name is user input)."""
    left, right = _width(label), _width(status)
    total = left + right
    colour = COLOURS.get(status, GREY)
    lbl, st = escape(label), escape(status)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{lbl}: {st}"><title>{lbl}: {st}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" '
        'font-size="11">'
        f'<text x="{left / 2}" y="14">{lbl}</text>'
        f'<text x="{left + right / 2}" y="14">{st}</text></g></svg>'
    )


@webui_bp.route("/badge/<owner>/<name>/status.svg")
def badge(owner: str, name: str) -> ResponseReturnValue:
    """The badge; never cached long, so a README shows the current status."""
    repo = data.find_repo(owner, name)
    status = "unknown"
    if repo is not None and (not repo.private or can(repo, "read")):
        branch = request.args.get("branch") or repo.default_branch
        last = data.last_build_of_branch(repo.id, branch)
        if last is not None:
            status = last.status
    return Response(
        render_badge("build", status),
        mimetype="image/svg+xml",
        headers={"Cache-Control": "no-cache, max-age=0"},
    )
