"""Login rate limiting: every attempt is counted, atomically, before the password is checked.

One statement per login records the attempt for the account and for the client address
and returns the new counts (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``): two
concurrent logins cannot both read "4 failures" and both go on to check a password, as
they could when the failure was written only after scrypt had run. A successful login
takes its attempt back. Counts live in the database (not in process memory) so several
server processes behind a load balancer enforce one limit. A window starts with the
first attempt and lasts ``window`` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, case, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from regional_server.db.models import login_attempts


@dataclass(frozen=True)
class Counted:
    """One key's attempts in its current window, and when that window started."""

    key: str
    attempts: int
    window_start: int


def attempt_keys(email: str, client: str) -> list[str]:
    """Attempts count per account and per client address: one guesses many accounts,
    many guess one."""
    return [f"email:{email.strip().lower()[:320]}", f"client:{client[:64]}"]


def attempt_limits(email: str, client: str, max_failures: int) -> dict[str, int]:
    """The account's limit, and a looser one per client address: behind a proxy many
    people share one address, and one of them must not lock everyone out."""
    account, client_key = attempt_keys(email, client)
    return {account: max_failures, client_key: max_failures * 4}


def wait_seconds(counted: Sequence[Counted], limits: dict[str, int], now: int, window: int) -> int:
    """Seconds until the caller may try again: 0 when every key is within its limit
    (this attempt included), else until the longest blocking window ends. Pure."""
    wait = 0
    for c in counted:
        if c.attempts > limits.get(c.key, 0):
            wait = max(wait, c.window_start + window - now, 1)
    return wait


def record_attempt(conn: Connection, keys: Sequence[str], now: int, window: int) -> list[Counted]:
    """Count one attempt for each key, in one statement; returns the new counts."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(login_attempts).values(
        # Sorted: concurrent statements lock the rows in one order (no deadlock).
        [{"key": k, "window_start": now, "attempts": 1} for k in sorted(set(keys))]
    )
    expired = login_attempts.c.window_start <= now - window
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "attempts": case((expired, 1), else_=login_attempts.c.attempts + 1),
            "window_start": case((expired, now), else_=login_attempts.c.window_start),
        },
    ).returning(login_attempts.c.key, login_attempts.c.attempts, login_attempts.c.window_start)
    rows = conn.execute(stmt).all()
    # Old rows are useless; trim them now and then so the table stays small.
    if now % 16 == 0:
        conn.execute(delete(login_attempts).where(login_attempts.c.window_start <= now - window))
    return [Counted(r[0], int(r[1]), int(r[2])) for r in rows]


def forget_success(conn: Connection, email: str, client: str) -> None:
    """A successful login: the account starts afresh, and the address's count loses
    this attempt (an office's daily logins must not add up to a lock-out)."""
    account, client_key = attempt_keys(email, client)
    conn.execute(delete(login_attempts).where(login_attempts.c.key == account))
    conn.execute(
        update(login_attempts)
        .where(login_attempts.c.key == client_key, login_attempts.c.attempts > 0)
        .values(attempts=login_attempts.c.attempts - 1)
    )
