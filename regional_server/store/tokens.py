"""Personal API tokens: created and revoked by their user, stored hashed, scoped like
the user (same role and regions, which are read at each use, so a change of grant or a
deactivated account takes effect at once)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from regional_server.auth.sessions import CurrentUser, token_hash, user_regions_of
from regional_server.db.models import api_tokens, users

PREFIX = "kst_"
MAX_TOKENS = 20


class TokenError(ValueError):
    """A token that cannot be created (bad name, too many)."""


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    hint: str
    created_at: int
    last_used_at: int | None
    revoked: bool


def create_token(conn: Connection, user_id: int, name: str, now: int) -> str:
    """A new token for ``user_id``; the only time its value is known (shown once)."""
    name = " ".join(name.split())[:100]
    if not name:
        raise TokenError("give the token a name (what script uses it)")
    live = conn.execute(
        select(api_tokens.c.id).where(
            api_tokens.c.user_id == user_id, api_tokens.c.revoked.is_(False)
        )
    ).all()
    if len(live) >= MAX_TOKENS:
        raise TokenError(f"at most {MAX_TOKENS} tokens; revoke one first")
    token = PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        insert(api_tokens).values(
            user_id=user_id,
            name=name,
            token_hash=token_hash(token),
            hint=token[len(PREFIX) : len(PREFIX) + 4],
            created_at=now,
            last_used_at=None,
            revoked=False,
        )
    )
    return token


def list_tokens(conn: Connection, user_id: int) -> list[ApiToken]:
    rows = conn.execute(
        select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id)
    )
    return [
        ApiToken(r.id, r.name, r.hint, r.created_at, r.last_used_at, bool(r.revoked)) for r in rows
    ]


def revoke_token(conn: Connection, user_id: int, token_id: int) -> bool:
    """Revoke one of ``user_id``'s tokens; False when it is not theirs (or unknown)."""
    result = conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.user_id == user_id)
        .values(revoked=True)
    )
    return result.rowcount == 1


def user_for_token(conn: Connection, token: str, now: int) -> CurrentUser | None:
    """The user a live token acts for, or None (unknown, revoked, user deactivated).

    The returned user has no CSRF token: a bearer token reaches read-only routes only.
    """
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = conn.execute(
        select(api_tokens.c.id, users.c.id.label("uid"), users.c.email, users.c.role)
        .select_from(api_tokens.join(users, users.c.id == api_tokens.c.user_id))
        .where(
            api_tokens.c.token_hash == token_hash(token),
            api_tokens.c.revoked.is_(False),
            users.c.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    # Minute resolution is enough to tell a used token from a forgotten one.
    conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == row.id)
        .where((api_tokens.c.last_used_at.is_(None)) | (api_tokens.c.last_used_at < now - 60))
        .values(last_used_at=now)
    )
    return CurrentUser(row.uid, row.email, row.role, "", user_regions_of(conn, row.uid, row.role))
