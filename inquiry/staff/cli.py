"""`inquiry staff …`: accounts and API tokens from the command line (every change audited)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inquiry.audit import Caller
from inquiry.config import Settings
from inquiry.db import DatabaseNotReady, check_schema, create_engine, migrate_or_explain
from inquiry.errors import InquiryError
from inquiry.models import Staff, StaffRole, utcnow
from inquiry.staff.service import StaffService

Command = Callable[[StaffService, argparse.Namespace, TextIO], Awaitable[None]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inquiry staff", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a staff account (prompts for its password)")
    add.add_argument("email")
    add.add_argument("--role", choices=[r.value for r in StaffRole], default="agent")
    add.add_argument("--name", default="")
    secret = add.add_mutually_exclusive_group()
    secret.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    secret.add_argument("--no-password", action="store_true", help="API tokens only")
    token = commands.add_parser("token", help="print a new API token (shown once)")
    token.add_argument("email")
    token.add_argument("--label", default="cli")
    expiry = token.add_mutually_exclusive_group()
    expiry.add_argument("--expires-days", type=int, help="default INQUIRY_STAFF_TOKEN_DAYS")
    expiry.add_argument("--no-expiry", action="store_true", help="lives until revoked")
    commands.add_parser("list", help="list staff accounts")
    for name, text in (("disable", "lock an account out"), ("enable", "let it back in")):
        commands.add_parser(name, help=text).add_argument("email")
    role = commands.add_parser("set-role", help="make an account agent or admin")
    role.add_argument("email")
    role.add_argument("role", choices=[r.value for r in StaffRole])
    passwd = commands.add_parser("passwd", help="set an account's password")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true")
    tokens = commands.add_parser("tokens", help="list an account's tokens")
    tokens.add_argument("email")
    revoke = commands.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("token_id", type=int)
    reset = commands.add_parser(
        "two-factor-reset", help="remove an account's second factor (a lost phone)"
    )
    reset.add_argument("email")
    return parser


def run(argv: list[str], stdin: TextIO, stdout: TextIO, settings: Settings) -> int:
    """Run one `inquiry staff` command; returns the exit status."""
    args = _parser().parse_args(argv)
    args.stdin = stdin
    try:
        asyncio.run(_run(settings, COMMANDS[args.command], args, stdout))
    except (InquiryError, ValueError, DatabaseNotReady) as error:
        raise SystemExit(f"inquiry staff: {error}") from None
    return 0


async def _run(settings: Settings, command: Command, args: argparse.Namespace, out: TextIO) -> None:
    if settings.is_sqlite and command not in READS:
        await migrate_or_explain(settings)  # the embedded default owns its schema, as in `serve`
    else:
        # A listing never creates a database to list nothing from; PostgreSQL's schema is
        # brought up by `inquiry migrate` alone.
        await check_schema(settings)
    engine = create_engine(settings)
    try:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with sessions() as session, session.begin():
            await command(_service(session, settings), args, out)
    finally:
        await engine.dispose()


def _service(session: AsyncSession, settings: Settings) -> StaffService:
    return StaffService(session, settings, Caller(staff=None, client_ip="cli", now=utcnow()))


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return str(args.stdin.readline().rstrip("\r\n"))
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the passwords differ")
    return first


async def _account(accounts: StaffService, email: str) -> Staff:
    staff = await accounts.find(email)
    if staff is None:
        raise ValueError(f"no staff account {email}")
    return staff


async def _add(accounts: StaffService, args: argparse.Namespace, out: TextIO) -> None:
    password = None if args.no_password else _password(args)
    staff = await accounts.create(
        email=args.email, role=StaffRole(args.role), name=args.name, password=password
    )
    out.write(f"added {staff.email} ({staff.role}), id {staff.id}\n")


async def _token(accounts: StaffService, args: argparse.Namespace, out: TextIO) -> None:
    staff = await _account(accounts, args.email)
    lifetime = timedelta(days=args.expires_days) if args.expires_days else None
    minted = await accounts.mint_token(
        staff, label=args.label, lifetime=lifetime, never_expires=args.no_expiry
    )
    out.write(minted.secret + "\n")  # the only time it is ever shown


async def _list(accounts: StaffService, _: argparse.Namespace, out: TextIO) -> None:
    for staff in await accounts.all():
        state = "active" if staff.active else "disabled"
        two_factor = "\ttwo-factor" if staff.totp_secret else ""
        out.write(f"{staff.id}\t{staff.email}\t{staff.role}\t{state}{two_factor}\n")


async def _set_active(
    accounts: StaffService, args: argparse.Namespace, out: TextIO, *, active: bool
) -> None:
    staff = await accounts.update(await _account(accounts, args.email), active=active)
    out.write(f"{staff.email} is {'active' if active else 'disabled'}\n")


async def _disable(accounts: StaffService, args: argparse.Namespace, out: TextIO) -> None:
    await _set_active(accounts, args, out, active=False)


async def _enable(accounts: StaffService, args: argparse.Namespace, out: TextIO) -> None:
    await _set_active(accounts, args, out, active=True)


async def _set_role(accounts: StaffService, args: argparse.Namespace, out: TextIO) -> None:
    staff = await accounts.update(await _account(accounts, args.email), role=StaffRole(args.role))
    out.write(f"{staff.email} is {staff.role}\n")


async def _passwd(accounts: StaffService, args: argparse.Namespace, out: TextIO) -> None:
    staff = await _account(accounts, args.email)
    await accounts.update(staff, password=_password(args))
    out.write(f"password of {staff.email} changed\n")


async def _tokens(accounts: StaffService, args: argparse.Namespace, out: TextIO) -> None:
    for token in await accounts.tokens_of(await _account(accounts, args.email)):
        state = "revoked" if token.revoked_at else "active"
        expires = f"expires {token.expires_at:%Y-%m-%d}" if token.expires_at else "no expiry"
        out.write(f"{token.id}\t{token.prefix}…\t{token.kind}\t{token.label}\t{state}\t{expires}\n")


async def _revoke(accounts: StaffService, args: argparse.Namespace, out: TextIO) -> None:
    token = await accounts.revoke(await accounts.get_token(args.token_id))
    out.write(f"token {token.id} ({token.prefix}…) revoked\n")


async def _two_factor_reset(accounts: StaffService, args: argparse.Namespace, out: TextIO) -> None:
    staff = await _account(accounts, args.email)
    await accounts.reset_two_factor(staff)
    out.write(f"two-factor sign-in of {staff.email} removed; its sessions ended\n")


# Commands that only read: they need a database and never create one.
READS: frozenset[Command] = frozenset({_list, _tokens})

COMMANDS: dict[str, Command] = {
    "add": _add,
    "token": _token,
    "list": _list,
    "disable": _disable,
    "enable": _enable,
    "set-role": _set_role,
    "passwd": _passwd,
    "tokens": _tokens,
    "revoke": _revoke,
    "two-factor-reset": _two_factor_reset,
}
