"""The weekly digest e-mail: each user who asked for it gets the alerts of the regions
they follow, in the language they chose, figures published as on the dashboard.

Run by ``kiosk-server send-digest`` (a systemd timer once a week: docs/server.md).
A user is sent at most one digest per ISO week (``alert_prefs.last_digest_at``), so a
timer that fires twice, or a retry after a failure, does not send it again; a user
with no alert that week gets no e-mail.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import Engine

from regional_server.alerts import Alert
from regional_server.auth.sessions import user_regions_of
from regional_server.dashboard.alert_text import describe
from regional_server.dashboard.formats import Formatter
from regional_server.perturb import noise_table
from regional_server.rollup import week_label, week_start
from regional_server.settings import Settings
from regional_server.store.alerts import (
    collect_alerts,
    digest_sent,
    digest_users,
    last_complete_week,
    prefs,
    subscriptions,
)
from regional_server.store.users import get_user
from regional_server.transport import is_loopback

SMTP_TIMEOUT = 30.0


class DigestError(RuntimeError):
    """The digest could not be sent (no SMTP settings, or the server refused)."""


def compose(
    lang: str, week: str, alerts: Sequence[Alert], threshold: int, to: str, sender: str
) -> EmailMessage:
    """The digest for one user: a plain-text e-mail in ``lang``. Pure."""
    fmt = Formatter(lang)
    week_text = fmt.week(week)
    lines = [fmt.t("digest_intro", week=week_text), ""]
    lines += [f"- {describe(a, fmt, threshold)}" for a in alerts]
    lines += ["", fmt.t("digest_footer", threshold=fmt.integer(threshold))]
    msg = EmailMessage()
    msg["Subject"] = fmt.t("digest_subject", week=week_text, count=fmt.integer(len(alerts)))
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content("\n".join(lines) + "\n")
    msg["Content-Language"] = lang  # after set_content, which drops Content-* headers
    return msg


@dataclass(frozen=True)
class Outcome:
    email: str
    alerts: int
    sent: bool
    """False: no alert this week, or already sent this week."""


def smtp_sender(settings: Settings) -> Callable[[Sequence[EmailMessage]], None]:
    """Sends messages over one SMTP connection, as ``smtp_security`` says: ``starttls``
    and ``tls`` check the server's certificate and name against the system's CA store
    (``SSL_CERT_FILE`` names another bundle) and never fall back to plain SMTP (a server
    that offers no STARTTLS is an error); ``none`` only to a relay on loopback."""
    if not settings.smtp_host or not settings.smtp_from:
        raise DigestError("set smtp_host and smtp_from in the server settings to send e-mail")
    if settings.smtp_security == "none" and not is_loopback(settings.smtp_host):
        # Plain SMTP would carry the digest, and the password if any, in clear.
        raise DigestError(
            f"smtp_security: none is for a relay on this machine, not {settings.smtp_host}:"
            " use starttls or tls"
        )

    def send(messages: Sequence[EmailMessage]) -> None:
        if not messages:
            return
        context = ssl.create_default_context()
        host, port = settings.smtp_host, settings.smtp_port
        try:
            smtp: smtplib.SMTP = (
                smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=context)
                if settings.smtp_security == "tls"
                else smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
            )
            with smtp:
                if settings.smtp_security == "starttls":
                    smtp.starttls(context=context)
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, settings.smtp_password)
                for msg in messages:
                    smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as e:
            raise DigestError(f"SMTP {host}:{port}: {e}") from e

    return send


def send_digests(
    engine: Engine,
    settings: Settings,
    now: int,
    send: Callable[[Sequence[EmailMessage]], None],
    force: bool = False,
) -> list[Outcome]:
    """Compose and send this week's digests; ``force`` sends again to users who already
    got this week's. Users are marked as sent only after the SMTP server took them."""
    noise = noise_table(settings.noise_max, settings.noise_variance)
    threshold = settings.suppression_threshold
    week = week_label(last_complete_week(now))
    this_week = int(
        datetime.combine(
            week_start(datetime.fromtimestamp(now, UTC).date()), datetime.min.time(), UTC
        ).timestamp()
    )
    outcomes: list[Outcome] = []
    to_send: list[tuple[int, EmailMessage]] = []
    with engine.connect() as conn:
        for user_id in digest_users(conn):
            user = get_user(conn, user_id)
            if not user.active:
                continue
            p = prefs(conn, user_id)
            alerts = collect_alerts(
                conn,
                subscriptions(conn, user_id),
                user_regions_of(conn, user_id, user.role),
                now,
                noise,
                threshold,
            )
            already = p.last_digest_at is not None and p.last_digest_at >= this_week
            if not alerts or (already and not force):
                outcomes.append(Outcome(user.email, len(alerts), False))
                continue
            msg = compose(p.language, week, alerts, threshold, user.email, settings.smtp_from)
            to_send.append((user_id, msg))
            outcomes.append(Outcome(user.email, len(alerts), True))
    send([m for _u, m in to_send])
    with engine.begin() as conn:
        for user_id, _m in to_send:
            digest_sent(conn, user_id, now)
    return outcomes
