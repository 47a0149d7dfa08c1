"""The folder mailer: one readable, private .eml file per message."""

from __future__ import annotations

import email
import stat
from pathlib import Path

from mosaic.core.mail import FolderMailer, MailMessage
from mosaic.core.settings import DatabaseSettings, MailSettings, Settings


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
