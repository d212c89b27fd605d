"""The kiosk's identity: an Ed25519 key pair, and the id and region the server gave it.

The key pair is made at first start; the private key file is created readable by its
owner only (the service account: root / SYSTEM), so the customer's account cannot sign
reports. ``kiosk-agent enroll`` sends the public key with a one-time code; the server's
answer (pseudonymous kiosk id, region, country) is stored next to the key. Every upload
is signed over ``schema.signing_string``.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk_agent.atomic import write_atomic, write_text_atomic
from kiosk_agent.contracts.private_key import load_or_create_key, public_key_text
from kiosk_agent.contracts.report import (
    HEADER_KIOSK_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    EnrollRequest,
    signing_string,
)

if TYPE_CHECKING:
    import requests
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = logging.getLogger(__name__)

KEY_FILE = "kiosk-key.pem"
ENROLLMENT_FILE = "kiosk.json"
ENROLL_PATH = "/api/v1/enroll"
_KIOSK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SHORT = re.compile(r"[A-Za-z0-9 _.-]{0,64}")


class EnrollError(Exception):
    """Enrollment failed; the message says why in plain words."""


class KioskKey:
    """The kiosk's Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key

    @classmethod
    def load_or_create(cls, state_dir: Path) -> KioskKey:
        """The key in ``state_dir/kiosk-key.pem``, made (mode 0600) if there is none."""
        return cls(load_or_create_key(Path(state_dir) / KEY_FILE, "the kiosk's"))

    def public_key_text(self) -> str:
        """``ed25519:<base64 of the 32 raw public key bytes>``."""
        return public_key_text(self._key)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def signed_headers(
        self, kiosk_id: str, method: str, path: str, timestamp: int, body: bytes
    ) -> dict[str, str]:
        """The ``X-Kiosk-*`` headers for a request (see ``schema.signing_string``)."""
        signature = self.sign(signing_string(method, path, timestamp, body))
        return {
            HEADER_KIOSK_ID: kiosk_id,
            HEADER_TIMESTAMP: str(int(timestamp)),
            HEADER_SIGNATURE: base64.b64encode(signature).decode("ascii"),
        }


@dataclass(frozen=True)
class Enrollment:
    """What the server said at enrollment, kept in ``state_dir/kiosk.json``."""

    kiosk_id: str
    region: str
    country: str
    server: str
    public_key: str
    enrolled_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kiosk_id": self.kiosk_id,
            "region": self.region,
            "country": self.country,
            "server": self.server,
            "public_key": self.public_key,
            "enrolled_at": self.enrolled_at,
        }


def load_enrollment(state_dir: Path) -> Enrollment | None:
    """The stored enrollment, or None if the kiosk has not enrolled (or the file is bad)."""
    path = Path(state_dir) / ENROLLMENT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        enrollment = Enrollment(
            kiosk_id=str(data["kiosk_id"]),
            region=str(data["region"]),
            country=str(data["country"]),
            server=str(data["server"]),
            public_key=str(data["public_key"]),
            enrolled_at=float(data["enrolled_at"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("ignoring unreadable enrollment file %s: %s", path, e)
        return None
    if not _KIOSK_ID.fullmatch(enrollment.kiosk_id):
        log.warning("ignoring enrollment file %s: bad kiosk id", path)
        return None
    return enrollment


def save_enrollment(state_dir: Path, enrollment: Enrollment) -> None:
    write_text_atomic(
        Path(state_dir) / ENROLLMENT_FILE, json.dumps(enrollment.to_json(), indent=2) + "\n", 0o600
    )


def parse_enroll_response(data: object) -> tuple[str, str, str]:
    """(kiosk_id, region, country) from the server's JSON; raises ``EnrollError``."""
    if not isinstance(data, dict):
        raise EnrollError("the server's answer is not a JSON object")
    kiosk_id, region, country = data.get("kiosk_id"), data.get("region"), data.get("country")
    if not isinstance(kiosk_id, str) or not _KIOSK_ID.fullmatch(kiosk_id):
        raise EnrollError("the server's answer has no valid kiosk_id")
    for label, value in (("region", region), ("country", country)):
        if not isinstance(value, str) or not _SHORT.fullmatch(value):
            raise EnrollError(f"the server's answer has no valid {label}")
    assert isinstance(region, str) and isinstance(country, str)
    return kiosk_id, region, country


def enroll(
    state_dir: Path,
    server: str,
    code: str,
    session: requests.Session,
    *,
    now: float,
    cafe_name: str = "",
    agent_version: str = "",
    timeout: float = 30.0,
) -> Enrollment:
    """Send the public key with the one-time ``code``; store and return the enrollment."""
    import requests

    key = KioskKey.load_or_create(state_dir)
    body = EnrollRequest(
        code=code.strip(),
        public_key=key.public_key_text(),
        cafe_name=cafe_name,
        agent_version=agent_version,
    ).to_json()
    url = server.rstrip("/") + ENROLL_PATH
    try:
        response = session.post(url, json=body, timeout=timeout)
    except requests.RequestException as e:
        raise EnrollError(f"could not reach {server}: {e}") from e
    if response.status_code not in (200, 201):
        raise EnrollError(
            f"the server refused the enrollment (HTTP {response.status_code}): "
            f"{_error_text(response)}"
        )
    try:
        data = response.json()
    except ValueError:
        raise EnrollError("the server's answer is not JSON") from None
    kiosk_id, region, country = parse_enroll_response(data)
    _keep_enrollment_overlay(state_dir, data)
    enrollment = Enrollment(
        kiosk_id=kiosk_id,
        region=region,
        country=country,
        server=server.rstrip("/"),
        public_key=key.public_key_text(),
        enrolled_at=now,
    )
    save_enrollment(state_dir, enrollment)
    return enrollment


ENROLL_OVERLAY = Path("settings") / "enrollment-overlay.signed"


def _keep_enrollment_overlay(state_dir: Path, data: object) -> None:
    """Keep the region's signed settings overlay the server handed over (not verified
    here: ``kiosk-agent enroll`` verifies and applies it, docs/fleet.md)."""
    import binascii

    raw = data.get("settings_overlay") if isinstance(data, dict) else None
    if not isinstance(raw, str) or len(raw) > 200_000:
        return
    try:
        blob = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return
    write_atomic(state_dir / ENROLL_OVERLAY, blob)


def _error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason or "no reason given"
    if isinstance(data, dict):
        for key in ("detail", "error", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])[:200]
    return str(data)[:200]
