"""The digest's SMTP over STARTTLS (port 587 style) and implicit TLS (465 style), against
aiosmtpd on loopback with a test CA: certificates are checked, a server that cannot be
verified or offers no STARTTLS is refused, and nothing falls back to plain SMTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from kiosk_agent.net.ports import free_port
from regional_server.digest import DigestError, smtp_sender
from regional_server.settings import Settings
from tests.tls_certs import TlsFiles, make_tls_files

USER, PASSWORD = "digest-user", "a relay password 1"


@dataclass
class _Relay:
    port: int = 0
    messages: list[tuple[str, bool]] = field(default_factory=list)
    """Each message's subject and whether it came over TLS."""
    logins: list[tuple[bytes, bool]] = field(default_factory=list)
    """Each AUTH's login name and whether it came over TLS."""

    async def handle_DATA(self, server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append((_subject(envelope.content), _tls(server)))
        return "250 OK"

    def authenticate(
        self, server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult

        self.logins.append((data.login, _tls(server)))
        ok = data.login == USER.encode() and data.password == PASSWORD.encode()
        return AuthResult(success=ok)


def _tls(server: Any) -> bool:
    return server.transport.get_extra_info("ssl_object") is not None


def _subject(content: bytes) -> str:
    for line in content.decode().splitlines():
        if line.startswith("Subject: "):
            return line.removeprefix("Subject: ")
    return ""


@pytest.fixture
def certs(tmp_path: Path) -> TlsFiles:
    """The relay's certificate, for 127.0.0.1, signed by a test CA."""
    return make_tls_files(tmp_path / "relay", ["127.0.0.1"])


@pytest.fixture
def trusted(certs: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> TlsFiles:
    """The test CA as the system's store (OpenSSL reads ``SSL_CERT_FILE`` each time a
    default context is made), so the code's own context is the one under test."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_pem))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return certs


@pytest.fixture
def other_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store holds another CA only: the relay's certificate cannot be verified."""
    other = make_tls_files(tmp_path / "other", ["127.0.0.1"])
    monkeypatch.setenv("SSL_CERT_FILE", str(other.ca_pem))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@contextmanager
def _relay(**kwargs: Any) -> Iterator[_Relay]:
    from aiosmtpd.controller import Controller

    relay = _Relay(free_port())
    controller = Controller(
        relay, hostname="127.0.0.1", port=relay.port, authenticator=relay.authenticate, **kwargs
    )
    controller.start()
    try:
        yield relay
    finally:
        controller.stop()


@pytest.fixture
def starttls_relay(certs: TlsFiles) -> Iterator[_Relay]:
    """Port 587 style: plain first, STARTTLS required before anything is accepted."""
    with _relay(tls_context=certs.server_context(), require_starttls=True) as relay:
        yield relay


@pytest.fixture
def tls_relay(certs: TlsFiles) -> Iterator[_Relay]:
    """Port 465 style: TLS from the first byte (AUTH allowed: the whole session is TLS)."""
    with _relay(ssl_context=certs.server_context(), auth_require_tls=False) as relay:
        yield relay


@pytest.fixture
def plain_relay() -> Iterator[_Relay]:
    """A relay that offers no STARTTLS at all."""
    with _relay() as relay:
        yield relay


def _settings(port: int, security: str, user: str = "") -> Settings:
    return Settings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=security,
        smtp_user=user,
        smtp_password=PASSWORD if user else "",
        smtp_from="alerts@example.org",
    )


def _message(subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "alerts@example.org"
    msg["To"] = "coord@example.org"
    msg.set_content("test digest\n")
    return msg


@pytest.mark.parametrize("user", ["", USER])
def test_starttls_sends_over_tls_with_a_verified_certificate(
    trusted: TlsFiles, starttls_relay: _Relay, user: str
) -> None:
    send = smtp_sender(_settings(starttls_relay.port, "starttls", user))
    send([_message("one"), _message("two")])
    assert starttls_relay.messages == [("one", True), ("two", True)]
    assert starttls_relay.logins == ([(USER.encode(), True)] if user else [])


@pytest.mark.parametrize("user", ["", USER])
def test_implicit_tls_sends_with_a_verified_certificate(
    trusted: TlsFiles, tls_relay: _Relay, user: str
) -> None:
    smtp_sender(_settings(tls_relay.port, "tls", user))([_message("one")])
    assert tls_relay.messages == [("one", True)]
    assert tls_relay.logins == ([(USER.encode(), True)] if user else [])


def test_a_wrong_password_is_an_error(trusted: TlsFiles, starttls_relay: _Relay) -> None:
    settings = _settings(starttls_relay.port, "starttls", "someone-else")
    with pytest.raises(DigestError, match=r"SMTP 127\.0\.0\.1"):
        smtp_sender(settings)([_message("one")])
    assert starttls_relay.messages == []


@pytest.mark.usefixtures("other_ca")
@pytest.mark.parametrize("user", ["", USER])
def test_starttls_refuses_a_certificate_it_cannot_verify(starttls_relay: _Relay, user: str) -> None:
    with pytest.raises(DigestError, match="CERTIFICATE_VERIFY_FAILED"):
        smtp_sender(_settings(starttls_relay.port, "starttls", user))([_message("one")])
    assert starttls_relay.messages == [] and starttls_relay.logins == []


@pytest.mark.usefixtures("other_ca")
def test_implicit_tls_refuses_a_certificate_it_cannot_verify(tls_relay: _Relay) -> None:
    with pytest.raises(DigestError, match="CERTIFICATE_VERIFY_FAILED"):
        smtp_sender(_settings(tls_relay.port, "tls", USER))([_message("one")])
    assert tls_relay.messages == [] and tls_relay.logins == []


def test_a_certificate_for_another_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed by the trusted CA, but for mail.example.org, not the host connected to."""
    certs = make_tls_files(tmp_path / "named", ["mail.example.org"])
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca_pem))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with _relay(ssl_context=certs.server_context(), auth_require_tls=False) as relay:
        with pytest.raises(DigestError, match="CERTIFICATE_VERIFY_FAILED"):
            smtp_sender(_settings(relay.port, "tls"))([_message("one")])
        assert relay.messages == []


@pytest.mark.parametrize("user", ["", USER])
def test_starttls_is_not_downgraded_when_the_relay_does_not_offer_it(
    trusted: TlsFiles, plain_relay: _Relay, user: str
) -> None:
    with pytest.raises(DigestError, match="STARTTLS"):
        smtp_sender(_settings(plain_relay.port, "starttls", user))([_message("one")])
    assert plain_relay.messages == [] and plain_relay.logins == []


def test_implicit_tls_against_a_plain_relay_is_an_error(plain_relay: _Relay) -> None:
    with pytest.raises(DigestError, match=r"SMTP 127\.0\.0\.1"):
        smtp_sender(_settings(plain_relay.port, "tls"))([_message("one")])
    assert plain_relay.messages == []


def test_plain_smtp_only_to_a_relay_on_this_machine() -> None:
    """``none`` sends in clear: refused for any host but loopback, before connecting."""
    for host in ("192.0.2.25", "mail.example.org", "::ffff:192.0.2.25"):
        settings = Settings(smtp_host=host, smtp_security="none", smtp_from="a@example.org")
        with pytest.raises(DigestError, match="use starttls or tls"):
            smtp_sender(settings)
    for host in ("127.0.0.1", "::1", "localhost"):
        smtp_sender(Settings(smtp_host=host, smtp_security="none", smtp_from="a@example.org"))
