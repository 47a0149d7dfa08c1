"""``mosaic events …`` as an operator runs it, against the test database."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import select

from mosaic.core.database import DatabaseLocation
from mosaic.models import AuditEvent, EventDeadLetter
from tests.events.conftest import Sessions, consumer_name
from tests.processes import mosaic_env, run_mosaic


def _env(location: DatabaseLocation) -> dict[str, str]:
    return mosaic_env(
        None,
        MOSAIC_DATABASE_URL=location.owner_url.render_as_string(hide_password=False),
        MOSAIC_LOG_LEVEL="WARNING",
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


# Each command is a fresh interpreter that migrates first: slow on a loaded machine.
@pytest.mark.timeout(600)
async def test_dead_letters_are_listed_shown_and_discarded_from_the_command_line(
    location: DatabaseLocation, owner_sessions: Sessions
) -> None:
    consumer = consumer_name()
    async with owner_sessions() as session, session.begin():
        letter = EventDeadLetter(
            consumer=consumer, body="garbage", reason="malformed message: x", attempts=1
        )
        session.add(letter)
        await session.flush()
        letter_id = letter.id
    env = _env(location)

    listed = _ok(run_mosaic("events", "dead-letters", "list", "--consumer", consumer, env=env))
    shown = json.loads(_ok(run_mosaic("events", "dead-letters", "show", str(letter_id), env=env)))
    not_replayable = run_mosaic("events", "dead-letters", "replay", str(letter_id), env=env)
    _ok(run_mosaic("events", "dead-letters", "discard", str(letter_id), env=env))
    gone = run_mosaic("events", "dead-letters", "show", str(letter_id), env=env)

    assert [json.loads(line)["id"] for line in listed.splitlines()] == [letter_id]
    assert (shown["body"], shown["reason"]) == ("garbage", "malformed message: x")
    assert not_replayable.returncode == 1
    assert "DEAD_LETTER_NOT_REPLAYABLE" in not_replayable.stderr
    assert gone.returncode == 1
    assert "DEAD_LETTER_NOT_FOUND" in gone.stderr
    assert "Traceback" not in not_replayable.stderr + gone.stderr
    async with owner_sessions() as session:
        audited = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.actor).where(
                    AuditEvent.subject == f"dead_letter:{letter_id}"
                )
            )
        ).all()
    assert audited == [("dead_letter_discarded", "cli")]


@pytest.mark.timeout(600)
def test_replay_refuses_an_unknown_consumer_and_a_time_without_zone(
    location: DatabaseLocation,
) -> None:
    env = _env(location)

    unknown = run_mosaic(
        "events", "replay", "--consumer", "nobody", "--since", "2030-01-01T00:00Z", env=env
    )
    naive = run_mosaic("events", "replay", "--consumer", "audit", "--since", "2030-01-01", env=env)
    replayed = run_mosaic(
        "events", "replay", "--consumer", "audit", "--since", "2999-01-01T00:00Z", env=env
    )

    assert unknown.returncode == 1
    assert "Unknown --consumer nobody" in unknown.stderr
    assert naive.returncode == 1
    assert "Invalid --since" in naive.stderr
    assert _ok(replayed).strip() == "Re-delivered 0 events to audit."
