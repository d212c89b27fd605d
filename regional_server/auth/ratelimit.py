"""Login rate limiting: a pure decision, and its storage in the shared database.

Failures are stored in the database (not in process memory) so that several server
processes behind a load balancer enforce one limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, select

from regional_server.db.models import login_failures


def is_locked_out(failure_times: Sequence[int], now: int, max_failures: int, window: int) -> bool:
    """True when ``max_failures`` or more failures happened in the last ``window`` seconds."""
    return sum(1 for t in failure_times if now - window < t <= now) >= max_failures


def retry_after(failure_times: Sequence[int], now: int, max_failures: int, window: int) -> int:
    """Seconds until the oldest failure counted leaves the window (0 when not locked)."""
    recent = sorted(t for t in failure_times if now - window < t <= now)
    if len(recent) < max_failures:
        return 0
    return max(1, recent[len(recent) - max_failures] + window - now)


def failure_keys(email: str, client: str) -> list[str]:
    """Failures count per account and per client address: one guesses many accounts,
    many guess one."""
    return [f"email:{email.strip().lower()[:320]}", f"client:{client[:64]}"]


def failure_limits(email: str, client: str, max_failures: int) -> list[tuple[str, int]]:
    """The account's limit, and a looser one per client address: behind a proxy many
    people share one address, and one of them must not lock everyone out."""
    account, client_key = failure_keys(email, client)
    return [(account, max_failures), (client_key, max_failures * 4)]


def recent_failures(conn: Connection, keys: Sequence[str], now: int, window: int) -> list[int]:
    rows = conn.execute(
        select(login_failures.c.at).where(
            login_failures.c.key.in_(keys), login_failures.c.at > now - window
        )
    )
    return [r[0] for r in rows]


def latest_lock(conn: Connection, limits: Sequence[tuple[str, int]], now: int, window: int) -> int:
    """Seconds the caller must wait, the longest over (key, limit) pairs; 0 if none locked."""
    wait = 0
    for key, limit in limits:
        times = recent_failures(conn, [key], now, window)
        wait = max(wait, retry_after(times, now, limit, window))
    return wait


def record_failure(conn: Connection, keys: Sequence[str], now: int, window: int) -> None:
    conn.execute(insert(login_failures), [{"key": k, "at": now} for k in keys])
    # Old rows are useless; trim them now and then so the table stays small.
    if now % 16 == 0:
        conn.execute(delete(login_failures).where(login_failures.c.at <= now - window))


def clear_failures(conn: Connection, email: str) -> None:
    conn.execute(delete(login_failures).where(login_failures.c.key == failure_keys(email, "")[0]))


def count_failures(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(login_failures)).scalar_one())
