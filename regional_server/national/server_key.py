"""This regional server's own Ed25519 key, for signing pushes to its parent.

``server-key.pem`` in the data folder, PKCS#8 PEM, made (mode 0600) on first use and
kept; a key found readable by others is restricted to 0600. The parent pins the public
key (``kiosk-server server-key`` prints it).
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_agent.atomic import write_atomic

log = logging.getLogger(__name__)
SERVER_KEY_FILE = "server-key.pem"


class ServerKey:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def load_or_create(cls, data_dir: Path) -> ServerKey:
        path = Path(data_dir) / SERVER_KEY_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_atomic(path, pem, mode=0o600)  # never readable by others, even briefly
            log.info("made this server's key pair in %s", path)
            return cls(key)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 and os.name != "nt":
            log.warning("%s was readable by others (mode %o); restricting it to 0600", path, mode)
            os.chmod(path, 0o600)
        loaded = serialization.load_pem_private_key(data, password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(loaded)

    def public_key_text(self) -> str:
        """``ed25519:<base64 of the 32 raw public key bytes>``."""
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return "ed25519:" + base64.b64encode(raw).decode("ascii")

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)
