"""Encryption of secret values at rest (Fernet: AES-128-CBC with an HMAC-SHA256 check).

The key comes from ``settings.secret_key`` (a Fernet key, or any passphrase, which is hashed into
one) or is generated on first start into ``<data_dir>/secret.key`` with mode 0600. Losing the
key makes stored secrets unreadable; back it up with the database.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken

from runner.errors import RunnerError

if TYPE_CHECKING:
    from runner.settings import Settings

KEY_FILE = "secret.key"


class Cipher:
    """Encrypts and decrypts secret values with one key. Thread-safe."""

    def __init__(self, key: bytes | str):
        self._fernet = Fernet(_fernet_key(key))

    @classmethod
    def generate(cls) -> Cipher:
        """A cipher with a fresh random key that lives only in memory (tests, throwaway setups)."""
        return cls(Fernet.generate_key())

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        """The plain value; raises ``RunnerError`` when the key is not the one that encrypted."""
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            raise RunnerError(
                "a stored secret cannot be decrypted with the current key: restore the "
                "secret.key of the data directory (or RUNNER_SECRET_KEY) it was written with"
            ) from None


def _fernet_key(key: bytes | str) -> bytes:
    raw = key.encode("ascii", "ignore") if isinstance(key, str) else bytes(key)
    raw = raw.strip()
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except ValueError:
        pass
    # A passphrase: derive a stable key from it.
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def load_key(secret_key: str, data_dir: str | Path) -> bytes:
    """The key from ``secret_key``, else ``<data_dir>/secret.key`` (created 0600 if absent)."""
    if secret_key:
        return _fernet_key(secret_key)
    path = Path(data_dir).expanduser() / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once cannot both write a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        from runner.private_files import private_file

        private_file(path)  # older versions may have left it readable by others
        return _fernet_key(path.read_bytes())
    with os.fdopen(fd, "wb") as fh:
        fh.write(Fernet.generate_key())
    return _fernet_key(path.read_bytes())


def cipher_from_settings(settings: Settings) -> Cipher:
    """The cipher for a server's settings (``secret_key`` or the key file in ``data_dir``)."""
    return Cipher(load_key(settings.secret_key, settings.data_path))
