"""Login sessions stored in the database; the cookie holds a random token.

Only the token's SHA-256 is stored. Each session has its own CSRF token, which every
form of a logged-in page carries in the hidden field ``csrf_token``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from regional_server.db.models import regions, sessions, user_regions, users

SESSION_COOKIE = "ks_session"
PRELOGIN_COOKIE = "ks_csrf"
"""Before login there is no session: the login form's CSRF token is a double-submit
cookie (HttpOnly, SameSite=Strict), which another site can neither read nor set."""


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in user and what they may see."""

    id: int
    email: str
    role: str
    csrf_token: str
    region_ids: frozenset[int]
    """Regions granted; for an admin, every region."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def create_session(conn: Connection, user_id: int, now: int, hours: float) -> str:
    """A new session for ``user_id``; returns the cookie value."""
    token = new_token()
    conn.execute(
        insert(sessions).values(
            token_hash=token_hash(token),
            user_id=user_id,
            csrf_token=new_token(),
            created_at=now,
            expires_at=now + int(hours * 3600),
        )
    )
    # Expired sessions of anyone are removed at each login; nothing else needs them.
    conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
    return token


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash(token)))


def user_regions_of(conn: Connection, user_id: int, role: str) -> frozenset[int]:
    if role == "admin":
        return frozenset(r[0] for r in conn.execute(select(regions.c.id)))
    rows = conn.execute(select(user_regions.c.region_id).where(user_regions.c.user_id == user_id))
    return frozenset(r[0] for r in rows)


def load_session(conn: Connection, token: str, now: int) -> CurrentUser | None:
    """The user of a live session, or None (unknown, expired, or user deactivated)."""
    row = conn.execute(
        select(users.c.id, users.c.email, users.c.role, sessions.c.csrf_token)
        .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
        .where(
            sessions.c.token_hash == token_hash(token),
            sessions.c.expires_at > now,
            users.c.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    return CurrentUser(
        row.id, row.email, row.role, row.csrf_token, user_regions_of(conn, row.id, row.role)
    )
