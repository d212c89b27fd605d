"""An alert as one sentence in the reader's language (page and digest e-mail)."""

from __future__ import annotations

from regional_server.alerts import Alert
from regional_server.dashboard.formats import Formatter


def figure(value: int | None, fmt: Formatter, threshold: int) -> str:
    """A published count as plain text: ``<5`` when hidden, as on the page."""
    return f"<{fmt.integer(threshold)}" if value is None else fmt.integer(value)


def describe(alert: Alert, fmt: Formatter, threshold: int) -> str:
    week = fmt.week(alert.week) if alert.week else ""
    if alert.kind == "silent":
        shown = ", ".join(alert.kiosks)
        more = len(alert.kiosks) < alert.total
        return fmt.t(
            "alert_silent",
            region=alert.region,
            count=fmt.integer(alert.total),
            days=fmt.integer(alert.days),
            kiosks=shown + (", …" if more else ""),
        )
    usual = "" if alert.usual is None else fmt.number(round(alert.usual, 1))
    return fmt.t(
        f"alert_{alert.kind}",
        region=alert.region,
        week=week,
        value=figure(alert.value, fmt, threshold),
        usual=usual,
    )
