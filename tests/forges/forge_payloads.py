"""Load the recorded-style webhook bodies of tests/forges/payloads and sign them like a forge."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent / "payloads"


def load(name: str) -> dict[str, Any]:
    """The payload ``name`` (without ``.json``) as a dict, for a test to adjust."""
    return json.loads((HERE / f"{name}.json").read_text())


def body(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode("utf-8")


def hex_hmac(secret: str, raw: bytes) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def github_headers(event: str, raw: bytes, secret: str, delivery: str = "d-1") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": "sha256=" + hex_hmac(secret, raw),
        "User-Agent": "GitHub-Hookshot/abc123",
    }


def gitlab_headers(event: str, secret: str, delivery: str = "d-1") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": secret,
        "X-Gitlab-Event-UUID": delivery,
    }


def gitea_headers(event: str, raw: bytes, secret: str, delivery: str = "d-1") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitea-Event": event,
        "X-Gitea-Delivery": delivery,
        "X-Gitea-Signature": hex_hmac(secret, raw),
    }


def gogs_headers(event: str, raw: bytes, secret: str, delivery: str = "d-1") -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gogs-Event": event,
        "X-Gogs-Delivery": delivery,
        "X-Gogs-Signature": hex_hmac(secret, raw),
    }


def generic_headers(raw: bytes, secret: str, delivery: str = "") -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Runner-Signature": "sha256=" + hex_hmac(secret, raw),
    }
    if delivery:
        headers["X-Runner-Delivery"] = delivery
    return headers
