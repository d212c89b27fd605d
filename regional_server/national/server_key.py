"""This regional server's own Ed25519 key, for signing pushes to its parent.

``server-key.pem`` in the data folder, PKCS#8 PEM, made (mode 0600) on first use and
kept; a key found readable by others is restricted to 0600. The parent pins the public
key (``kiosk-server server-key`` prints it).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_agent.contracts.private_key import load_or_create_key, public_key_text

SERVER_KEY_FILE = "server-key.pem"


class ServerKey:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def load_or_create(cls, data_dir: Path) -> ServerKey:
        return cls(load_or_create_key(Path(data_dir) / SERVER_KEY_FILE, "this server's"))

    def public_key_text(self) -> str:
        """``ed25519:<base64 of the 32 raw public key bytes>``."""
        return public_key_text(self._key)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)
