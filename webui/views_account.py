"""The signed-in user's own API tokens (``/account/tokens``), for every user: list (name,
created, last used; never a value), create (the value shown once), revoke.

The actions are ``runner.services.users``'s, as for ``/api/v1/user/tokens`` and the admins'
users page; each is recorded in the audit log. A user reaches only their own tokens: another
user's token id is "not found", as in the API.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from runner.errors import NotFound
from runner.services import users as user_actions
from webui import data, webui_bp
from webui.forms import Form
from webui.session_auth import login_required, signed_in_user


def _page(form: Form | None = None, status: int = 200) -> tuple[str, int]:
    me = signed_in_user()
    return (
        render_template(
            "account_tokens.html",
            tokens=user_actions.tokens_of(data.stores(), me),
            errors=form.errors if form else {},
            values=form.source if form else {},
            max_name=user_actions.MAX_TOKEN_NAME,
        ),
        status,
    )


@webui_bp.route("/account/tokens")
@login_required
def account_tokens() -> ResponseReturnValue:
    """The user's API tokens and the form to make one."""
    return _page()


@webui_bp.route("/account/tokens", methods=["POST"])
@login_required
def account_token_create() -> ResponseReturnValue:
    """Make a token of the signed-in user and show its value once (it is stored hashed)."""
    form = Form()
    name = form.text(
        "name",
        required=True,
        max_len=user_actions.MAX_TOKEN_NAME,
        message="Name the token, e.g. laptop-cli.",
    )
    if not form.ok:
        return _page(form, 400)
    me = signed_in_user()
    token, plain = user_actions.create_token(
        data.stores(), me, name, actor=me.login, how="made on the tokens page"
    )
    page = render_template("account_token.html", token=token, plain=plain)
    # The value is on this page only: no cache keeps it.
    return page, 201, {"Cache-Control": "no-store"}


@webui_bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def account_token_revoke(token_id: int) -> ResponseReturnValue:
    """Revoke one of the signed-in user's tokens."""
    me = signed_in_user()
    try:
        user_actions.revoke_token(data.stores(), token_id, owner=me, actor=me.login)
    except NotFound:
        flash(f"You have no token {token_id}.", "error")
    else:
        flash("Token revoked.")
    return redirect(url_for("webui.account_tokens"))
