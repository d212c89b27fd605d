"""`kiosk-agent report show` and `kiosk-agent report upload --now [--force]`."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiosk_agent.commands.common import add_config_argument, load_config_arg
from kiosk_agent.errors import UserError

if TYPE_CHECKING:
    from kiosk_agent.config import Config
    from kiosk_agent.reporting.outbox import OutboxSummary


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="see or send the counts waiting for the regional server",
        description="The anonymized counts this kiosk keeps for the regional server.",
    )
    rsub = p.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    show = rsub.add_parser(
        "show",
        help="what is waiting to be sent, in plain words",
        description="Show the reports waiting in the outbox, uploads, deferrals and errors.",
    )
    add_config_argument(show)
    show.add_argument("--json", action="store_true", help="print the details as JSON")
    show.set_defaults(handler=_show)
    upload = rsub.add_parser(
        "upload",
        help="send the waiting reports now",
        description=(
            "Cut a report of everything counted so far and send all waiting reports now, "
            "even if the café's link is busy. The daily byte budget still applies unless "
            "--force is given."
        ),
    )
    add_config_argument(upload)
    upload.add_argument(
        "--now", action="store_true", required=True, help="send now (required, to be explicit)"
    )
    upload.add_argument("--force", action="store_true", help="also ignore the daily byte budget")
    upload.set_defaults(handler=_upload)


def _when(stamp: float | None) -> str:
    if not stamp:
        return "never"
    ago = time.time() - stamp
    text = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if 0 <= ago < 86400 * 2:
        hours, minutes = divmod(int(ago // 60), 60)
        text += f" ({hours} h {minutes} min ago)" if hours else f" ({minutes} min ago)"
    return text


def _period_text(start: int, seconds: int) -> str:
    day = datetime.fromtimestamp(start, UTC)
    if seconds == 3600:
        return day.strftime("%Y-%m-%d %H:00 UTC (1 hour)")
    if seconds == 86400:
        return day.strftime("%Y-%m-%d (1 day)")
    return day.strftime("%Y-%m-%d") + f" ({seconds / 86400:g} days)"


def describe(summary: OutboxSummary, *, server: str | None, kiosk_id: str | None) -> str:
    """The plain-words text of `report show`."""
    lines: list[str] = []
    if server is None:
        lines.append("Reporting server: none configured (counts are kept on this PC only).")
    else:
        lines.append(f"Reporting server: {server}")
    lines.append(
        f"This kiosk: enrolled as {kiosk_id}."
        if kiosk_id
        else "This kiosk: not enrolled yet (run: kiosk-agent enroll --server URL --code CODE)."
    )
    reports = summary.reports
    if reports:
        total = sum(sum(r.counts.values()) for r in reports)
        lines.append(f"Waiting to be sent: {len(reports)} report(s) holding {total} count(s):")
        for r in reports[:20]:
            notes = []
            if r.merged_reports > 1:
                notes.append(f"{r.merged_reports} reports merged")
            if r.attempts:
                notes.append(f"{r.attempts} attempt(s)")
            if r.last_error:
                notes.append(f"last error: {r.last_error}")
            extra = f" [{'; '.join(notes)}]" if notes else ""
            lines.append(
                f"  - {_period_text(r.period_start, r.period_seconds)}: "
                f"{sum(r.counts.values())} count(s){extra}"
            )
        if len(reports) > 20:
            lines.append(f"  ... and {len(reports) - 20} more")
    else:
        lines.append("Waiting to be sent: nothing.")
    pending = sum(summary.pending.values())
    lines.append(f"Counted but not yet in a report (this period): {pending}.")
    meta = summary.meta
    lines.append(f"Last successful upload: {_when(meta.get('last_upload'))}.")
    if meta.get("last_error"):
        lines.append(f"Last problem: {meta['last_error']}")
    next_try = meta.get("next_attempt_at") or 0
    if next_try > time.time():
        lines.append(f"Next try after failures: {_when(next_try)}.")
    deferrals: dict[str, int] = meta.get("deferrals") or {}
    if deferrals:
        words = {
            "link_busy": "link busy",
            "link_unmeasured": "link not measured yet",
            "outside_offpeak": "outside the off-peak hours",
            "over_budget": "daily budget used up",
        }
        parts = [f"{words.get(k, k)}: {v}" for k, v in sorted(deferrals.items())]
        lines.append("Uploads put off so far: " + ", ".join(parts) + ".")
    budget = meta.get("budget") or {}
    if budget:
        lines.append(f"Bytes sent on {budget.get('day')}: {budget.get('bytes', 0)}.")
    flushed = sum(f for f, _ in summary.totals.values())
    acked = sum(a for _, a in summary.totals.values())
    lines.append(f"Since install: {flushed} count(s) recorded, {acked} confirmed by the server.")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    import json

    from kiosk_agent.reporting.identity import load_enrollment
    from kiosk_agent.reporting.outbox import Outbox, OutboxError

    config = load_config_arg(args)
    try:
        outbox = Outbox.in_state_dir(config.state_dir)
    except OutboxError as e:
        raise UserError(str(e)) from None
    try:
        summary = outbox.summary()
    finally:
        outbox.close()
    enrollment = load_enrollment(config.state_dir)
    if args.json:
        print(
            json.dumps(
                {
                    "server": config.reporting.server,
                    "kiosk_id": enrollment.kiosk_id if enrollment else None,
                    "pending": summary.pending,
                    "reports": [
                        {
                            "report_id": r.report_id,
                            "period_start": r.period_start,
                            "period_seconds": r.period_seconds,
                            "counts": r.counts,
                            "merged_reports": r.merged_reports,
                            "attempts": r.attempts,
                            "last_error": r.last_error,
                        }
                        for r in summary.reports
                    ],
                    "meta": summary.meta,
                },
                indent=2,
            )
        )
        return 0
    print(
        describe(
            summary,
            server=config.reporting.server,
            kiosk_id=enrollment.kiosk_id if enrollment else None,
        )
    )
    return 0


def applied_feed_versions(config: Config) -> dict[str, int]:
    """The list versions the service applied (its ``feeds.json``), for the reports this
    command cuts: without them the server counts the kiosk as on no list at all."""
    from kiosk_agent.filter.updater import load_state

    return {
        s.list_id: s.version
        for s in load_state(config.state_dir).values()
        if s.list_id is not None and s.version is not None
    }


def _upload(args: argparse.Namespace) -> int:
    from kiosk_agent.reporting.component import Reporting
    from kiosk_agent.reporting.outbox import OutboxError

    config = load_config_arg(args)
    if config.reporting.server is None:
        raise UserError("reporting.server is not set in the config: there is nowhere to send")
    try:
        reporting = Reporting(config, feed_versions=lambda: applied_feed_versions(config))
    except (OutboxError, OSError, ValueError) as e:
        raise UserError(f"cannot open the reporting state in {config.state_dir}: {e}") from None
    try:
        result = reporting.upload(operator=True, force=args.force, cut_all=True)
    finally:
        reporting.close()
    messages = {
        "sent": f"Sent {result.sent} report(s) ({result.bytes} bytes)",
        "nothing": "Nothing to send.",
        "not_enrolled": "Not enrolled yet: run kiosk-agent enroll --server URL --code CODE.",
        "deferred": "Not sent: "
        + {"over_budget": "today's byte budget is used up (add --force to send anyway)."}.get(
            result.reason, result.reason
        ),
        "failed": f"Sending failed: {result.reason}",
    }
    text = messages.get(result.outcome, f"{result.outcome}: {result.reason}")
    if result.outcome == "sent":
        if result.duplicates:
            text += f", {result.duplicates} the server already had"
        if result.rejected:
            text += f"; {result.rejected} refused by the server (kept, retried tomorrow)"
        text += f". {result.left} report(s) still waiting."
    print(text)
    return 0 if result.outcome in ("sent", "nothing") else 1
