"""Coordinator and admin accounts, and the regions granted to each."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from regional_server.auth.passwords import hash_password, password_problem
from regional_server.db.models import regions, user_regions, users

ROLES = ("admin", "coordinator")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")


class UserError(ValueError):
    """An account that cannot be created or changed as asked."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    active: bool
    region_codes: tuple[str, ...]


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    conn: Connection,
    email: str,
    password: str,
    role: str,
    region_codes: list[str],
    now: int,
    scrypt_n: int,
) -> User:
    email = normalize_email(email)
    if not _EMAIL.fullmatch(email):
        raise UserError(f"{email!r} is not an e-mail address")
    if role not in ROLES:
        raise UserError(f"role {role!r}: use admin or coordinator")
    problem = password_problem(password)
    if problem:
        raise UserError(problem)
    if role == "coordinator" and not region_codes:
        raise UserError("a coordinator needs at least one region (--region CODE)")
    if conn.execute(select(users.c.id).where(users.c.email == email)).first():
        raise UserError(f"a user {email} already exists")
    new_id = conn.execute(
        insert(users).values(
            email=email,
            password_hash=hash_password(password, scrypt_n),
            role=role,
            active=True,
            created_at=now,
        )
    ).inserted_primary_key
    assert new_id is not None
    set_user_regions(conn, int(new_id[0]), region_codes)
    return get_user(conn, int(new_id[0]))


def set_user_regions(conn: Connection, user_id: int, region_codes: list[str]) -> None:
    codes = sorted({c.strip().upper() for c in region_codes if c.strip()})
    found = {r.code: r.id for r in conn.execute(select(regions).where(regions.c.code.in_(codes)))}
    missing = [c for c in codes if c not in found]
    if missing:
        raise UserError(f"unknown region(s): {', '.join(missing)}")
    conn.execute(delete(user_regions).where(user_regions.c.user_id == user_id))
    if found:
        conn.execute(
            insert(user_regions), [{"user_id": user_id, "region_id": i} for i in found.values()]
        )


def set_active(conn: Connection, user_id: int, active: bool) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(active=active))


def set_role(conn: Connection, user_id: int, role: str) -> None:
    if role not in ROLES:
        raise UserError(f"role {role!r}: use admin or coordinator")
    conn.execute(update(users).where(users.c.id == user_id).values(role=role))


def get_user(conn: Connection, user_id: int) -> User:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise LookupError(f"no user {user_id}")
    codes = tuple(
        r[0]
        for r in conn.execute(
            select(regions.c.code)
            .join(user_regions, user_regions.c.region_id == regions.c.id)
            .where(user_regions.c.user_id == user_id)
            .order_by(regions.c.code)
        )
    )
    return User(row.id, row.email, row.role, row.active, codes)


def list_users(conn: Connection) -> list[User]:
    ids = [r[0] for r in conn.execute(select(users.c.id).order_by(users.c.email))]
    return [get_user(conn, i) for i in ids]


def credentials(conn: Connection, email: str) -> tuple[int, str, bool] | None:
    """(id, password hash, active) of the account with ``email``, or None."""
    row = conn.execute(
        select(users.c.id, users.c.password_hash, users.c.active).where(
            users.c.email == normalize_email(email)
        )
    ).first()
    return (row.id, row.password_hash, row.active) if row else None


def set_password_hash(conn: Connection, user_id: int, password_hash: str) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))
