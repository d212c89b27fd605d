"""``kiosk-server push-parent``: send each region's published figures to the parent.

One signed request per region (each well under the parent's body bound), with this
server's own Ed25519 key (``server-key.pem`` in the data folder, made on first use). A
request that fails to reach the parent, or gets a 5xx, is retried with the same push id
(the parent counts it once); when the parent stays down the command exits 75
(``EX_TEMPFAIL``) and the next run of its timer pushes again: each push carries the
last ``parent_push_weeks`` weeks, so a missed week is sent with the next one.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import Engine

from kiosk_agent.contracts.report import signing_string
from regional_server.national.collect import collect_push, local_regions
from regional_server.national.parent_url import check_parent_url
from regional_server.national.payload import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PUSH_PATH,
    encode_push,
)
from regional_server.national.server_key import ServerKey
from regional_server.perturb import noise_table
from regional_server.settings import Settings

EX_TEMPFAIL = 75
MAX_PUSH_BYTES = 65536
"""The servers' default ``max_body_bytes``: one region's 8 weeks are a few KB."""
TIMEOUT = 30.0
RETRY_WAITS = (2.0, 10.0)
"""Seconds before the second and third (and any later) attempt of one request."""


class PushFailed(Exception):
    """The parent refused a push (a 4xx): retrying would not help."""


def server_key(data_dir: Path) -> ServerKey:
    """This server's Ed25519 key (made, mode 0600, on first use)."""
    return ServerKey.load_or_create(data_dir)


@dataclass
class PushOutcome:
    lines: list[str] = field(default_factory=list)
    unreachable: bool = False
    refused: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.refused else EX_TEMPFAIL if self.unreachable else 0


def _send(
    session: requests.Session, endpoint: str, key: ServerKey, body: bytes, now: int
) -> requests.Response:
    signature = key.sign(signing_string("POST", PUSH_PATH, now, body))
    headers = {
        "Content-Type": "application/json",
        HEADER_KEY: key.public_key_text(),
        HEADER_TIMESTAMP: str(now),
        HEADER_SIGNATURE: base64.b64encode(signature).decode("ascii"),
    }
    return session.post(endpoint, data=body, headers=headers, timeout=TIMEOUT)


def push_parent(
    settings: Settings,
    engine: Engine,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
    attempts: int = len(RETRY_WAITS) + 1,
) -> PushOutcome:
    """Push every region of this server's kiosks; one line per region in the outcome."""
    endpoint = check_parent_url(settings.parent_url)
    key = server_key(settings.data_dir)
    noise = noise_table(settings.noise_max, settings.noise_variance)
    now = int(clock())
    with engine.connect() as conn:
        regions = local_regions(conn)
        bodies = [
            (
                r.code,
                encode_push(
                    collect_push(
                        conn,
                        r,
                        now,
                        settings.parent_push_weeks,
                        noise,
                        settings.suppression_threshold,
                        settings.silent_after_days,
                        settings.report_timely_days,
                    )
                ),
            )
            for r in regions
        ]
    outcome = PushOutcome()
    http = session or requests.Session()
    for code, body in bodies:
        if len(body) > MAX_PUSH_BYTES:
            outcome.refused = True
            outcome.lines.append(
                f"{code}: not pushed, {len(body)} bytes is above the parent's body bound "
                f"({MAX_PUSH_BYTES}); lower parent_push_weeks"
            )
            continue
        problem = ""
        for attempt in range(max(attempts, 1)):
            if attempt:
                sleep(RETRY_WAITS[min(attempt, len(RETRY_WAITS)) - 1])
            try:
                response = _send(http, endpoint, key, body, int(clock()))
            except requests.RequestException as e:
                problem = f"cannot reach the parent ({type(e).__name__})"
                continue
            if response.status_code >= 500:
                problem = f"the parent answered {response.status_code}"
                continue
            if response.status_code == 200:
                status = response.json().get("status", "?")
                outcome.lines.append(f"{code}: {status}")
            else:
                outcome.refused = True
                answer = f"{response.status_code} {response.text[:300]}"
                outcome.lines.append(f"{code}: refused, {answer}")
            break
        else:
            outcome.unreachable = True
            outcome.lines.append(f"{code}: not pushed, {problem}; the next run retries")
    if not bodies:
        outcome.lines.append("no region to push")
    return outcome
