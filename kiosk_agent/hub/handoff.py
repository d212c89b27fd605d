"""A kiosk's reports handed to the hub (in the kiosk's upload worker).

Each round: ask the hub for the regional server's answers on every report handed so
far (an acknowledgement, ``stored`` or ``duplicate``, deletes the report from the
kiosk's outbox, exactly as a direct upload's would); hand each due report that the hub
does not hold, signed now; leave to the direct uploader any report the hub kept past
``roles.hand_off_bound``, refused, or could not take. A report handed to the hub is
marked "may have reached the server" first, so it is never merged or re-keyed: if the
kiosk ends up sending it itself, it goes under the same ``report_id`` and the server's
de-duplication counts it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kiosk_agent.contracts.report import MAX_BODY_BYTES, encode_body
from kiosk_agent.hub.roles import API, HUB_WAIT, report_route
from kiosk_agent.net.clock import Clock
from kiosk_agent.reporting.held import Held
from kiosk_agent.reporting.identity import Enrollment, KioskKey
from kiosk_agent.reporting.outbox import Outbox
from kiosk_agent.reporting.uploader import REPORTS_PATH

log = logging.getLogger(__name__)

HANDED_META = "hub_handed"


@dataclass
class HandOffResult:
    acknowledged: int = 0
    handed: int = 0
    waiting: int = 0
    direct: int = 0
    hub_error: str | None = None
    skip: set[str] = field(default_factory=set)
    """Reports the direct uploader leaves alone this round (the hub holds them)."""


def hand_off_round(
    outbox: Outbox,
    key: KioskKey,
    clock: Clock,
    session: Any,
    *,
    hub: str,
    server: str,
    enrollment: Enrollment,
    bound: float,
    held: Held | None = None,
) -> HandOffResult:
    import requests

    result = HandOffResult()
    held = held or Held()
    now = clock.now()
    handed: dict[str, float] = dict(outbox.get_meta(HANDED_META, {}) or {})
    due = outbox.due_reports(now, limit=500)
    due_ids = {r.report_id for r in due}
    handed = {rid: t for rid, t in handed.items() if rid in due_ids}  # acknowledged elsewhere
    base = hub.rstrip("/") + API
    try:
        response = session.post(
            base + "/answers",
            json={"kiosk_id": enrollment.kiosk_id, "report_ids": sorted(due_ids)},
            timeout=HUB_WAIT,
        )
        response.raise_for_status()
        answers = response.json().get("answers", {})
        if not isinstance(answers, dict):
            answers = {}
    except (requests.RequestException, ValueError, AttributeError) as e:
        result.hub_error = f"the hub {hub} did not answer: {e}"[:300]
        outbox.set_meta({HANDED_META: handed})
        return result  # everything goes direct this round
    path = urlsplit(server.rstrip("/") + REPORTS_PATH).path
    for stored in due:
        rid = stored.report_id
        answer = answers.get(rid)
        route = report_route(
            now=now,
            handed_at=handed.get(rid),
            hub_answer=answer if isinstance(answer, str) else None,
            bound=bound,
        )
        if route == "done":
            outbox.acknowledge(rid)
            handed.pop(rid, None)
            result.acknowledged += 1
            continue
        if route == "wait":
            result.waiting += 1
            result.skip.add(rid)
            continue
        if route == "direct":
            result.direct += 1
            continue
        if stored.clock_epoch in clock.corrections:
            continue  # its period must move first: the direct uploader's rules do that
        report = stored.to_report(enrollment.kiosk_id, held.content, held.settings)
        # Plain JSON on the LAN: the hub compresses the whole batch, where the reports'
        # common keys, date and list names cost once (each report's own gzip could not
        # share them). Signed over these bytes, as the server will check them.
        body = report.to_bytes()
        encoding: dict[str, str] = {}
        if len(body) > MAX_BODY_BYTES:
            body, encoding = encode_body(report), {"Content-Encoding": "gzip"}
        timestamp = int(clock.now())
        headers = {
            "Content-Type": "application/json",
            **encoding,
            "X-Report-Id": rid,
            **key.signed_headers(enrollment.kiosk_id, "POST", path, timestamp, body),
        }
        # From here on the report may reach the server through the hub.
        outbox.mark_sending(rid)
        try:
            r = session.post(base + "/reports", data=body, headers=headers, timeout=HUB_WAIT)
            accepted = r.status_code == 202
        except requests.RequestException as e:
            accepted = False
            result.hub_error = f"the hub {hub} did not take a report: {e}"[:300]
        outbox.mark_not_delivered(
            rid,
            "handed to the café hub" if accepted else "the hub did not take it",
            maybe_received=True,
        )
        if not accepted:
            break  # the rest goes direct this round
        handed.setdefault(rid, now)
        result.handed += 1
        result.skip.add(rid)
    outbox.set_meta({HANDED_META: handed})
    return result
