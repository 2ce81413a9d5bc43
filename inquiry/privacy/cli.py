"""`inquiry privacy …`: retention purge, access requests (export) and erasure, every one audited.

Who acts: `--by EMAIL` names the staff account the request is made for (the audit log and the
tombstone record it); without it, the system account running the command is recorded
("cli:<user>").
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from pathlib import Path
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inquiry.audit import Caller
from inquiry.config import Settings
from inquiry.db import DatabaseNotReady, check_schema, create_engine
from inquiry.errors import InquiryError
from inquiry.models import Staff, utcnow
from inquiry.privacy import erase as erasure
from inquiry.privacy import export as access
from inquiry.privacy.purge import purge
from inquiry.privacy.selector import Selector, SelectorKind
from inquiry.staff.service import StaffService

CONFIRM_WORD = "erase"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inquiry privacy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    purging = commands.add_parser("purge", help="remove what is past its retention period")
    purging.add_argument("--dry-run", action="store_true", help="count only; change nothing")
    exporting = commands.add_parser("export", help="write everything held about a person")
    _selector(exporting)
    exporting.add_argument("--out", type=Path, default=Path(), help="folder (default: here)")
    erasing = commands.add_parser("erase", help="erase a person's details, on their request")
    _selector(erasing)
    erasing.add_argument("--reason", required=True, help="why, for the tombstone (one line)")
    erasing.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for command in (exporting, erasing):
        command.add_argument("--by", metavar="EMAIL", help="the staff account acting")
    return parser


def _selector(command: argparse.ArgumentParser) -> None:
    which = command.add_mutually_exclusive_group(required=True)
    for kind in SelectorKind:
        which.add_argument(f"--{kind.value}", metavar=kind.value.upper())


def run(argv: list[str], stdin: TextIO, stdout: TextIO, settings: Settings) -> int:
    """Run one `inquiry privacy` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(settings, args, stdin, stdout))
    except (InquiryError, ValueError, DatabaseNotReady, OSError) as error:
        raise SystemExit(f"inquiry privacy: {error}") from None


async def _run(settings: Settings, args: argparse.Namespace, stdin: TextIO, out: TextIO) -> int:
    await check_schema(settings)  # never creates a database: there would be nothing to act on
    engine = create_engine(settings)
    try:
        if args.command == "purge":
            return await _purge(engine, settings, args, out)
        selector = _selected(args)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            caller, by = await _caller(session, settings, args.by)
            if args.command == "export":
                return await _export(session, settings, caller, selector, args, out)
            planned = await erasure.plan(session, settings, selector)
        return await _erase(engine, settings, caller, by, planned, args, stdin, out)
    finally:
        await engine.dispose()


def _selected(args: argparse.Namespace) -> Selector:
    for kind in SelectorKind:
        written = getattr(args, kind.value)
        if written is not None:
            return Selector.parse(kind, written)
    raise ValueError("give --email, --phone or --reference")  # argparse requires one


async def _caller(
    session: AsyncSession, settings: Settings, email: str | None
) -> tuple[Caller, str]:
    """Who acts (for the audit log) and how the tombstone names them."""
    now = utcnow()
    if email is None:
        return Caller(staff=None, client_ip="cli", now=now), f"cli:{getpass.getuser()}"
    accounts = StaffService(session, settings, Caller(staff=None, client_ip="cli", now=now))
    staff: Staff | None = await accounts.find(email)
    if staff is None or not staff.active:
        raise ValueError(f"no active staff account {email}")
    return Caller(staff=staff, client_ip="cli", now=now), staff.email


async def _purge(
    engine: AsyncEngine, settings: Settings, args: argparse.Namespace, out: TextIO
) -> int:
    caller = Caller(staff=None, client_ip="cli", now=utcnow())
    counts = await purge(engine, settings, caller, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    out.write(
        f"{verb}: {counts.spam_deleted} spam inquiries (deleted), "
        f"{counts.inquiries_redacted} closed inquiries (contact details and messages), "
        f"{counts.mail_files_deleted} mail files, {counts.tokens_deleted} expired tokens\n"
    )
    return 0


async def _export(
    session: AsyncSession,
    settings: Settings,
    caller: Caller,
    selector: Selector,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    held = await access.gather(session, settings, caller, selector)
    files = await asyncio.to_thread(access.write, held, settings, args.out)
    count = len(held["inquiries"])
    out.write(f"{count} inquiries held; written to {files.json} and {files.html}\n")
    return 0


async def _erase(
    engine: AsyncEngine,
    settings: Settings,
    caller: Caller,
    by: str,
    planned: erasure.ErasurePlan,
    args: argparse.Namespace,
    stdin: TextIO,
    out: TextIO,
) -> int:
    if not planned.inquiries:
        raise ValueError(f"no inquiry is held for this {planned.selector.kind.value}")
    out.write(_described(planned))
    if not args.yes:
        out.write(f"Type {CONFIRM_WORD!r} to erase them for good: ")
        out.flush()
        if stdin.readline().strip().lower() != CONFIRM_WORD:
            out.write("nothing erased\n")
            return 1
    done = await erasure.erase(engine, settings, caller, planned, erased_by=by, reason=args.reason)
    out.write(
        f"erased {', '.join(done.references)}: {done.tasks_cancelled} calls and "
        f"{done.mail_cancelled} messages cancelled, {done.mail_files_deleted} mail files deleted\n"
    )
    return 0


def _described(planned: erasure.ErasurePlan) -> str:
    lines = [f"{len(planned.inquiries)} inquiries will lose their contact details and messages:"]
    for held in planned.inquiries:
        again = " (erased before)" if held.erased_before else ""
        lines.append(f"  {held.reference}  {held.created_at:%Y-%m-%d}  {held.status}{again}")
    lines.append(
        f"with {planned.notes} staff notes, {planned.attempts} call notes, "
        f"{planned.mail_files} mail files; {planned.open_tasks} open calls and "
        f"{planned.unsent_mail} unsent messages will be cancelled."
    )
    return "\n".join(lines) + "\n"
