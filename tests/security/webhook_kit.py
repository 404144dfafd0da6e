"""What the webhook security tests share: an application with one repository per forge, and
the headers each forge signs a body with."""

from __future__ import annotations

import hashlib
import hmac
from contextlib import contextmanager
from pathlib import Path

from runner.server.app import create_app
from runner.server.status import status_reporter
from runner.testing import app_settings

SECRET = "input-secret-0123"
PIPELINE = """\
kind: pipeline
name: default
steps:
- name: test
  image: runner-test/busybox
  commands: [echo hi]
"""
SHA = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
SLUGS = {
    "github": "acme/gh",
    "gitlab": "acme/gl",
    "gitea": "acme/gt",
    "gogs": "acme/gg",
    "generic": "acme/generic",
}


def hexmac(raw: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def signed(forge: str, event: str, raw: bytes, delivery: str = "d-1") -> dict[str, str]:
    """The headers ``forge`` sends with ``raw``, signed with SECRET (no delivery header when
    ``delivery`` is empty)."""
    if forge == "github":
        headers = {"X-GitHub-Event": event, "X-Hub-Signature-256": "sha256=" + hexmac(raw)}
        delivery_header = "X-GitHub-Delivery"
    elif forge == "gitlab":
        headers = {"X-Gitlab-Event": event, "X-Gitlab-Token": SECRET}
        delivery_header = "X-Gitlab-Event-UUID"
    elif forge == "generic":
        headers = {"X-Runner-Signature": "sha256=" + hexmac(raw)}
        delivery_header = "X-Runner-Delivery"
    else:
        name = forge.capitalize()
        headers = {f"X-{name}-Event": event, f"X-{name}-Signature": hexmac(raw)}
        delivery_header = f"X-{name}-Delivery"
    if delivery:
        headers[delivery_header] = delivery
    return headers


@contextmanager
def webhook_hub(data_dir: Path, clone_url: str, **settings):
    """The services of an application (``.app``, and ``.client`` its test client) with one
    repository per forge of SLUGS cloning from ``clone_url``; the generic one has its hook on."""
    values = {"admin_password": "x" * 20, "embedded_agent": False, **settings}
    app = create_app(app_settings(data_dir, **values), start_background=False)
    services = app.extensions["runner"]
    for forge, slug in SLUGS.items():
        services.stores.repos.create(
            slug,
            forge=forge,
            clone_url=clone_url,
            webhook_secret=SECRET,
            generic_hook=forge == "generic",
        )
    services.app = app
    services.client = app.test_client()
    try:
        yield services
    finally:
        status_reporter(services).stop()
        services.db.dispose()


def post(hub, forge: str, headers: dict, raw: bytes, slug: str = ""):
    """POST ``raw`` to the hook of ``forge``'s repository (or ``slug``) with ``headers``."""
    return hub.client.post(
        f"/hook/{slug or SLUGS[forge]}",
        data=raw,
        headers={"Content-Type": "application/json", **headers},
    )
