"""Mail: the folder mailer's private .eml files, and SMTP against an in-process aiosmtpd."""

from __future__ import annotations

import email
import email.message
import ipaddress
import socket
import ssl
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from mosaic.core.mail import (
    FolderMailer,
    MailDeliveryFailed,
    MailMessage,
    SmtpMailer,
    create_mailer,
)
from mosaic.core.settings import (
    DatabaseSettings,
    MailBackend,
    MailSettings,
    Settings,
    SmtpSecurity,
)


async def test_each_message_becomes_an_eml_file_only_its_owner_reads(tmp_path: Path) -> None:
    mailer = FolderMailer(tmp_path / "mail", sender="Mosaic <no-reply@example.test>")

    await mailer.send(MailMessage(to="ada@example.com", subject="Hello", body="First\n"))
    await mailer.send(MailMessage(to="grace@example.com", subject="Hi", body="Second\n"))

    files = sorted((tmp_path / "mail").iterdir())
    assert [path.suffix for path in files] == [".eml", ".eml"]
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)
    parsed = [email.message_from_bytes(path.read_bytes()) for path in files]
    assert sorted(message["To"] for message in parsed) == ["ada@example.com", "grace@example.com"]
    assert all(message["From"] == "Mosaic <no-reply@example.test>" for message in parsed)
    assert all(message["Message-ID"] and message["Date"] for message in parsed)


def test_the_mail_folder_defaults_to_the_data_dir(tmp_path: Path) -> None:
    database = DatabaseSettings().model_copy(update={"data_dir": tmp_path})
    settings = Settings(database=database)

    assert settings.mail_dir == tmp_path / "mail"
    chosen = settings.model_copy(update={"mail": MailSettings(mail_dir=tmp_path / "elsewhere")})
    assert chosen.mail_dir == tmp_path / "elsewhere"


# --- SMTP, against an in-process aiosmtpd server ---------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps every accepted message."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[email.message.Message]:
        # decode_data is off: aiosmtpd keeps each message as the bytes it received.
        return [
            email.message_from_bytes(envelope.original_content or b"")
            for envelope in self.envelopes
        ]


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert_file))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, which the client is told to trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("smtp-tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


@contextmanager
def smtp_server(**options: Any) -> Iterator[tuple[Inbox, int]]:
    """An aiosmtpd server on a free loopback port, in its own thread."""
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


MESSAGE = MailMessage(to="ada@example.com", subject="Welcome", body="Hello Ada\n")


async def test_smtp_delivers_over_a_plain_connection_to_a_local_relay() -> None:
    with smtp_server() as (inbox, port):
        mailer = SmtpMailer(
            host="127.0.0.1", port=port, sender="Mosaic <no-reply@example.test>",
            security=SmtpSecurity.NONE,
        )  # fmt: skip
        await mailer.send(MESSAGE)

    [envelope] = inbox.envelopes
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert envelope.mail_from == "no-reply@example.test"
    [received] = inbox.messages()
    assert received["Subject"] == "Welcome"
    assert received["Message-ID"]
    assert received.get_payload() == "Hello Ada\r\n"  # SMTP line endings


async def test_smtp_upgrades_with_starttls_and_logs_in(certificate: Certificate) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert session.ssl is not None  # credentials only ever travel inside TLS
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    options = {
        "tls_context": certificate.server_context(),
        "require_starttls": True,
        "authenticator": authenticator,
        "auth_required": True,
    }
    with smtp_server(**options) as (inbox, port):
        mailer = SmtpMailer(
            host="127.0.0.1", port=port, security=SmtpSecurity.STARTTLS, username="mosaic",
            password=SecretStr("s3cret"), tls_context=certificate.client_context(),
        )  # fmt: skip
        await mailer.send(MESSAGE)

    assert logins == [(b"mosaic", b"s3cret")]
    assert [message["To"] for message in inbox.messages()] == ["ada@example.com"]


async def test_smtp_over_tls_from_the_start(certificate: Certificate) -> None:
    with smtp_server(ssl_context=certificate.server_context()) as (inbox, port):
        mailer = SmtpMailer(
            host="127.0.0.1", port=port, security=SmtpSecurity.SSL,
            tls_context=certificate.client_context(),
        )  # fmt: skip
        await mailer.send(MESSAGE)

    assert len(inbox.envelopes) == 1


async def test_a_refused_login_fails_without_revealing_the_password(
    certificate: Certificate,
) -> None:
    def refuse(*_: Any) -> AuthResult:
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535

    options = {
        "tls_context": certificate.server_context(),
        "authenticator": refuse,
        "auth_required": True,
    }
    with smtp_server(**options) as (inbox, port):
        mailer = SmtpMailer(
            host="127.0.0.1", port=port, username="mosaic", password=SecretStr("wrong-pass"),
            tls_context=certificate.client_context(),
        )  # fmt: skip
        with pytest.raises(MailDeliveryFailed) as failure:
            await mailer.send(MESSAGE)

    assert "535" in str(failure.value)
    assert "wrong-pass" not in str(failure.value)
    assert "wrong-pass" not in repr(mailer)
    assert inbox.envelopes == []


async def test_an_unreachable_smtp_server_is_a_delivery_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    mailer = SmtpMailer(host="127.0.0.1", port=closed_port, security=SmtpSecurity.NONE)

    with pytest.raises(MailDeliveryFailed, match=f"127.0.0.1:{closed_port}"):
        await mailer.send(MESSAGE)


def test_the_mail_backend_setting_chooses_the_mailer(tmp_path: Path) -> None:
    database = DatabaseSettings().model_copy(update={"data_dir": tmp_path})
    folder = create_mailer(Settings(database=database))
    smtp_settings = MailSettings(
        mail_backend=MailBackend.SMTP,
        smtp_host="mail.example.test",
        smtp_port=465,
        smtp_security=SmtpSecurity.SSL,
        smtp_username="mosaic",
        smtp_password=SecretStr("hunter2"),
    )
    smtp = create_mailer(Settings(database=database, mail=smtp_settings))

    assert folder == FolderMailer(tmp_path / "mail", sender="Mosaic <no-reply@localhost>")
    assert isinstance(smtp, SmtpMailer)
    assert (smtp.host, smtp.port, smtp.security, smtp.username) == (
        "mail.example.test", 465, SmtpSecurity.SSL, "mosaic",
    )  # fmt: skip
    assert smtp.password is not None
    assert smtp.password.get_secret_value() == "hunter2"


def test_smtp_without_a_host_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="MOSAIC_SMTP_HOST must be set"):
        MailSettings(mail_backend=MailBackend.SMTP)
