"""Ed25519 private keys in PEM files: a publisher's signing key (``kiosk-agent feed
build``, the regional server's ``publish-*`` commands), and a key pair a program makes on
first use and keeps (the kiosk's identity, a regional server's key for its parent)."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk_agent.atomic import write_atomic
from kiosk_agent.errors import UserError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = logging.getLogger(__name__)


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM file; ``UserError`` for anything else."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UserError(f"cannot read key file {path}: {e.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise UserError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f"{path} is not an Ed25519 key")
    return key


def load_or_create_key(path: Path, what: str) -> Ed25519PrivateKey:
    """The key in ``path`` (PKCS#8 PEM), made if there is none. The file is written mode
    0600 from the start (never readable by others, even briefly); one found readable by
    others is restricted to 0600. ``what`` names the key in the log ("the kiosk's")."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
        write_atomic(path, pem, mode=0o600)
        log.info("made %s key pair in %s", what, path)
        return key
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and os.name != "nt":
        log.warning("%s was readable by others (mode %o); restricting it to 0600", path, mode)
        os.chmod(path, 0o600)
    loaded = serialization.load_pem_private_key(data, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return loaded


def public_key_text(key: Ed25519PrivateKey) -> str:
    """``ed25519:<base64 of the 32 raw public key bytes>``, as trust lists name keys."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode("ascii")
