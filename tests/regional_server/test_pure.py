"""Small pure pieces: rollup weeks, filters, languages, charts, settings, passwords."""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regional_server.auth.passwords import hash_password, password_problem, verify_password
from regional_server.dashboard.charts import line_chart, nice_max
from regional_server.dashboard.filters import FilterError, parse_filters, select_regions
from regional_server.dashboard.i18n import MESSAGES, choose_language, translate
from regional_server.rollup import week_label, week_start, weeks_between
from regional_server.settings import Settings, SettingsError, load_settings
from regional_server.store.regions import Region


def test_iso_weeks() -> None:
    assert week_start(date(2026, 11, 29)) == date(2026, 11, 23)
    assert week_label(date(2026, 12, 28)) == "2026-W53"
    assert week_label(date(2024, 12, 30)) == "2025-W01"
    assert weeks_between(date(2026, 11, 25), date(2026, 12, 1)) == [
        date(2026, 11, 23),
        date(2026, 11, 30),
    ]


def test_filters_defaults_and_errors() -> None:
    f = parse_filters([], None, None, None, date(2026, 11, 27))
    assert f.date_to == date(2026, 11, 27) and (f.date_to - f.date_from).days == 83
    f = parse_filters(["ke-nbo,SN-DKR", "KE-NBO"], "sn", "2026-01-01", "2026-02-01", date.today())
    assert f.regions == ("KE-NBO", "SN-DKR") and f.country == "SN"
    assert "region=KE-NBO" in f.query() and "from=2026-01-01" in f.query()
    with pytest.raises(FilterError):
        parse_filters([], None, "2020-01-01", "2026-01-01", date.today())
    allowed = [Region(1, "KE-NBO", "Nairobi", "KE")]
    with pytest.raises(FilterError) as e:
        select_regions(parse_filters(["SN-DKR"], None, None, None, date.today()), allowed)
    assert e.value.status == 404


@given(
    st.lists(st.text(max_size=40), max_size=3),
    st.one_of(st.none(), st.text(max_size=10)),
    st.one_of(st.none(), st.text(max_size=12)),
    st.one_of(st.none(), st.text(max_size=12)),
)
def test_filter_parser_never_fails_unexpectedly(
    regions: list[str], country: str | None, first: str | None, last: str | None
) -> None:
    with contextlib.suppress(FilterError):
        parse_filters(regions, country, first, last, date(2026, 11, 27))


def test_every_message_is_translated() -> None:
    assert set(MESSAGES["fr"]) == set(MESSAGES["en"])
    assert translate("fr", "locked_out", minutes=3) == "Trop de tentatives. Réessayez dans 3 min."
    assert choose_language(None, None, "fr-FR,fr;q=0.9,en;q=0.8") == "fr"
    assert choose_language("en", "fr", "fr") == "en"
    assert choose_language("xx", None, "sw") == "en"


def test_chart_breaks_line_at_hidden_points_and_escapes_names() -> None:
    svg = line_chart({"<b>": [1, None, 3, 4]}, ["W1", "W2", "W3", "W4"], "Title & co")
    assert svg.count("<polyline") == 1  # only W3-W4 are joined
    assert "&lt;b&gt;" in svg and "Title &amp; co" in svg
    assert nice_max(7) == 8 and nice_max(0) == 1 and nice_max(230) == 250
    assert nice_max(100) == 100 and nice_max(3960) == 4000


def test_settings_file_and_environment(tmp_path: Path) -> None:
    f = tmp_path / "server.yaml"
    f.write_text("suppression_threshold: 10\nsecure_cookies: true\n")
    s = load_settings(f, {"KIOSK_SERVER_DB": "postgresql+psycopg://u@h/db"})
    assert s.suppression_threshold == 10 and s.secure_cookies
    assert s.db_url == "postgresql+psycopg://u@h/db"
    assert Settings(data_dir=tmp_path).db_url.endswith("server.db")
    f.write_text("suppression_threshold: 2\nsecure_cookie: true\n")
    with pytest.raises(SettingsError) as e:
        load_settings(f, {})
    assert len(e.value.problems) == 2
    assert "suppression_threshold: 2" in str(e.value) and "secure_cookie: unknown" in str(e.value)


def test_passwords() -> None:
    stored = hash_password("a long enough password", n=2**10)
    assert stored.startswith("scrypt$1024$")
    assert verify_password("a long enough password", stored)
    assert not verify_password("a long enough passwore", stored)
    assert not verify_password("x", "garbage") and not verify_password("x", "scrypt$a$b$c$d$e")
    assert password_problem("short") is not None and password_problem("x" * 12) is None


def test_smtp_settings_and_password_from_env_or_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret pass\n", encoding="utf-8")
    f = tmp_path / "server.yaml"
    f.write_text(
        "smtp_host: mail.example.org\nsmtp_port: 465\nsmtp_security: tls\n"
        "smtp_user: alerts\nsmtp_password_file: smtp-password\n"
        "smtp_from: alerts@example.org\nreport_timely_days: 5\n",
        encoding="utf-8",
    )
    s = load_settings(f, {})
    assert (s.smtp_host, s.smtp_port, s.smtp_security) == ("mail.example.org", 465, "tls")
    assert s.smtp_password == "s3cret pass" and s.report_timely_days == 5
    assert load_settings(f, {"KIOSK_SERVER_SMTP_PASSWORD": "from env"}).smtp_password == "from env"
    f.write_text(
        'smtp_port: 0\nsmtp_security: ssl\nsmtp_from: nobody\nsmtp_host: "a\\r\\nb"\n'
        "smtp_password: inline\nreport_timely_days: -1\n",
        encoding="utf-8",
    )
    with pytest.raises(SettingsError) as e:
        load_settings(f, {})
    # Every problem at once; a password is never read from the YAML file itself.
    assert len(e.value.problems) == 6 and "smtp_password: unknown key" in str(e.value)
    f.write_text("smtp_password_file: missing\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(f, {})
