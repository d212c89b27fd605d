"""One-time enrollment codes: created for a region, with a use count and an expiry.

Only a hash of each code is stored; the code itself is shown once, when created.
Redeeming decrements the use count in one conditional UPDATE, so two kiosks racing
for the last use cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from regional_server.db.models import enrollment_codes, regions

# No 0/O/1/I/L: the code is read aloud over the phone and typed on café PCs.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
MAX_USES = 10_000


class CodeError(ValueError):
    """A code that cannot be redeemed; ``code`` is the short reason for the kiosk."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class CodeInfo:
    id: int
    hint: str
    region_code: str
    uses_left: int
    uses_total: int
    expires_at: int
    revoked: bool


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(15))
    return "-".join(raw[i : i + 5] for i in range(0, 15, 5))


def create_code(
    conn: Connection, region_id: int, uses: int, expires_at: int, now: int, user_id: int | None
) -> str:
    """A new code for ``region_id``; returns the code (shown once)."""
    if not 1 <= uses <= MAX_USES:
        raise ValueError(f"uses must be 1-{MAX_USES}")
    if expires_at <= now:
        raise ValueError("the expiry must be in the future")
    code = new_code()
    conn.execute(
        insert(enrollment_codes).values(
            code_hash=code_hash(code),
            hint=code[:5],
            region_id=region_id,
            uses_left=uses,
            uses_total=uses,
            expires_at=expires_at,
            created_at=now,
            created_by=user_id,
            revoked=False,
        )
    )
    return code


def redeem_code(conn: Connection, code: str, now: int) -> int:
    """Use one use of ``code``; returns its region id or raises ``CodeError``."""
    h = code_hash(code)
    result = conn.execute(
        update(enrollment_codes)
        .where(
            enrollment_codes.c.code_hash == h,
            enrollment_codes.c.uses_left > 0,
            enrollment_codes.c.expires_at > now,
            enrollment_codes.c.revoked.is_(False),
        )
        .values(uses_left=enrollment_codes.c.uses_left - 1)
    )
    row = conn.execute(select(enrollment_codes).where(enrollment_codes.c.code_hash == h)).first()
    if result.rowcount == 1 and row is not None:
        return int(row.region_id)
    if row is None:
        raise CodeError("unknown_code", "this enrollment code is not known")
    if row.revoked:
        raise CodeError("revoked_code", "this enrollment code was revoked")
    if row.expires_at <= now:
        raise CodeError("expired_code", "this enrollment code has expired; ask for a new one")
    raise CodeError("used_code", "this enrollment code has been used up; ask for a new one")


def check_code_region(conn: Connection, code: str, now: int) -> int | None:
    """The region of a code that is known and not expired or revoked (uses not checked)."""
    row = conn.execute(
        select(enrollment_codes).where(enrollment_codes.c.code_hash == code_hash(code))
    ).first()
    if row is None or row.revoked or row.expires_at <= now:
        return None
    return int(row.region_id)


def list_codes(conn: Connection, region_ids: frozenset[int]) -> list[CodeInfo]:
    rows = conn.execute(
        select(enrollment_codes, regions.c.code.label("region_code"))
        .join(regions, regions.c.id == enrollment_codes.c.region_id)
        .where(enrollment_codes.c.region_id.in_(sorted(region_ids)))
        .order_by(enrollment_codes.c.created_at.desc(), enrollment_codes.c.id.desc())
    )
    return [
        CodeInfo(r.id, r.hint, r.region_code, r.uses_left, r.uses_total, r.expires_at, r.revoked)
        for r in rows
    ]


def revoke_code(conn: Connection, code_id: int, region_ids: frozenset[int]) -> bool:
    result = conn.execute(
        update(enrollment_codes)
        .where(
            enrollment_codes.c.id == code_id,
            enrollment_codes.c.region_id.in_(sorted(region_ids)),
        )
        .values(revoked=True)
    )
    return result.rowcount == 1
