"""`inquiry privacy …` and `inquiry backup` as a person runs them: what they print, what they
ask, one clear line when refused."""

from __future__ import annotations

import asyncio
import io
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa

from inquiry.cli import main
from inquiry.config import Settings
from inquiry.db import create_engine
from inquiry.models import audit_table, inquiry_table
from inquiry.privacy.backup import BackupRefused, backup
from inquiry.privacy.cli import run
from inquiry.privacy.models import erasure_table
from inquiry.staff.cli import run as run_staff
from tests.conftest import make_settings
from tests.privacy.fixtures import stored

HELENE = {"name": "Hélène Tremblay", "email": "helene@example.ca", "phone": "4165550123"}


def privacy(settings: Settings, *argv: str, stdin: str = "") -> tuple[int, str]:
    out = io.StringIO()
    status = run(list(argv), io.StringIO(stdin), out, settings)
    return status, out.getvalue()


async def _rows(
    settings: Settings, query: sa.Select[tuple[object, ...]]
) -> list[tuple[object, ...]]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(query)]
    finally:
        await engine.dispose()


def rows(settings: Settings, query: sa.Select[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return asyncio.run(_rows(settings, query))


@pytest.fixture
def cli_settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


NAMES = sa.select(inquiry_table.c.name).order_by(inquiry_table.c.id)


class TestErase:
    def test_shows_what_will_go_and_asks_first(self, cli_settings: Settings) -> None:
        (reference,) = asyncio.run(stored(cli_settings, HELENE))

        status, said = privacy(
            cli_settings, "erase", "--phone", "(416) 555-0123", "--reason", "asked", stdin="no\n"
        )

        assert status == 1
        assert reference in said
        assert said.endswith("nothing erased\n")
        assert "Tremblay" not in said  # the summary names references, not people
        assert rows(cli_settings, NAMES) == [("Hélène Tremblay",)]

        status, said = privacy(
            cli_settings, "erase", "--phone", "416-555-0123", "--reason", "asked", stdin="erase\n"
        )
        assert status == 0
        assert f"erased {reference}" in said
        assert rows(cli_settings, NAMES) == [("",)]
        who = rows(cli_settings, sa.select(erasure_table.c.erased_by, erasure_table.c.reason))
        assert str(who[0][0]).startswith("cli:")
        assert who[0][1] == "asked"

    def test_by_names_the_staff_account_in_the_tombstone_and_the_audit_log(
        self, cli_settings: Settings
    ) -> None:
        asyncio.run(stored(cli_settings, HELENE))
        assert (
            run_staff(
                ["add", "privacy@clinic.ca", "--role", "admin", "--no-password"],
                io.StringIO(),
                io.StringIO(),
                cli_settings,
            )
            == 0
        )

        status, _ = privacy(
            cli_settings,
            "erase",
            "--email",
            "Helene@Example.ca",
            "--reason",
            "withdrew consent by letter",
            "--by",
            "privacy@clinic.ca",
            "--yes",
        )

        assert status == 0
        assert rows(cli_settings, sa.select(erasure_table.c.erased_by)) == [("privacy@clinic.ca",)]
        audited = rows(
            cli_settings,
            sa.select(audit_table.c.staff_id).where(audit_table.c.action == "privacy.erase"),
        )
        assert audited == [(1,)]

    @pytest.mark.parametrize(
        ("argv", "says"),
        [
            (["--email", "not an address"], "is not a valid email address"),
            (["--phone", "12"], "is not"),
            (["--reference", "ABC"], "is not an inquiry reference"),
            (["--email", "nobody@example.ca"], "no inquiry is held for this email"),
            (["--email", "helene@example.ca", "--by", "ghost@clinic.ca"], "no active staff"),
            (["--email", "helene@example.ca", "--reason", " "], "reason on one line"),
        ],
    )
    def test_refusals_are_one_line_and_change_nothing(
        self, cli_settings: Settings, argv: list[str], says: str
    ) -> None:
        asyncio.run(stored(cli_settings, HELENE))
        reason = [] if "--reason" in argv else ["--reason", "asked"]
        with pytest.raises(SystemExit) as refused:
            privacy(cli_settings, "erase", *argv, *reason, "--yes")
        message = str(refused.value.code)
        assert message.startswith("inquiry privacy: ")
        assert says in message
        assert "\n" not in message
        assert rows(cli_settings, NAMES) == [("Hélène Tremblay",)]


class TestExportAndPurge:
    def test_export_writes_json_and_html(self, cli_settings: Settings, tmp_path: Path) -> None:
        asyncio.run(stored(cli_settings, HELENE))
        status, said = privacy(
            cli_settings, "export", "--email", "helene@example.ca", "--out", str(tmp_path / "x")
        )
        assert status == 0
        assert said.startswith("1 inquiries held; written to ")
        assert sorted(p.suffix for p in (tmp_path / "x").iterdir()) == [".html", ".json"]

    def test_purge_dry_run_says_what_it_would_remove(self, cli_settings: Settings) -> None:
        status, said = privacy(cli_settings, "purge", "--dry-run")
        assert status == 0
        assert said.startswith("would remove: 0 spam inquiries")
        assert rows(cli_settings, sa.select(audit_table.c.action)) == []
        status, said = privacy(cli_settings, "purge")
        assert said.startswith("removed: ")
        assert rows(cli_settings, sa.select(audit_table.c.action)) == [("privacy.purge",)]


@pytest.fixture
def live(sqlite_template: Path, tmp_path: Path) -> Settings:
    """Settings on a SQLite database of its own."""
    shutil.copy(sqlite_template, tmp_path / "live.db")
    return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}", tmp_path)


class TestBackup:
    def test_a_consistent_copy_while_a_write_is_in_progress(
        self, live: Settings, tmp_path: Path
    ) -> None:
        settings = live
        asyncio.run(stored(settings, HELENE))
        target = tmp_path / "copy.db"
        with closing(sqlite3.connect(tmp_path / "live.db")) as writer:
            writer.execute("BEGIN IMMEDIATE")  # a write under way, not committed
            writer.execute("UPDATE inquiry SET subject = 'uncommitted'")
            size = asyncio.run(backup(settings, target))
            writer.rollback()

        assert size == target.stat().st_size > 0
        assert target.stat().st_mode & 0o777 == 0o600
        with closing(sqlite3.connect(target)) as copy:
            assert copy.execute("SELECT name, subject FROM inquiry").fetchall() == [
                ("Hélène Tremblay", "Starting treatment")
            ]
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    def test_never_over_an_existing_file(self, live: Settings, tmp_path: Path) -> None:
        settings = live
        (tmp_path / "copy.db").write_text("keep me")
        with pytest.raises(BackupRefused, match="exists already"):
            asyncio.run(backup(settings, tmp_path / "copy.db"))
        assert (tmp_path / "copy.db").read_text() == "keep me"

    def test_postgresql_is_pointed_to_pg_dump_in_one_line(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("INQUIRY_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1:1/clinic")
        with pytest.raises(SystemExit) as refused:
            main(["backup", str(tmp_path / "copy.db")])
        message = str(refused.value.code)
        assert message.startswith(
            "inquiry backup: the database is PostgreSQL: back it up with pg_dump"
        )
        assert "\n" not in message
        assert not (tmp_path / "copy.db").exists()
