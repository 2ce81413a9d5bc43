"""Staff accounts, their tokens, and signing in. Takes a session and flushes; never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from inquiry import auth
from inquiry.audit import Caller, record
from inquiry.callbacks.transitions import release_claims
from inquiry.config import Settings
from inquiry.errors import NotFound, StaffExists, TransitionNotAllowed
from inquiry.models import (
    ApiToken,
    Staff,
    StaffRole,
    TokenKind,
    inquiry_table,
    staff_table,
    token_table,
)
from inquiry.staff import passwords
from inquiry.staff.two_factor import SecondFactor, TwoFactor


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A token as shown once: the secret itself, and its stored row."""

    secret: str
    row: ApiToken


def normalize_email(email: str) -> str:
    """Staff emails are compared lower-cased; raises ValueError when not an address."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValueError(f"{email!r} is not a valid email address") from error


class StaffService:
    """What admins (and the command line) do with staff accounts and tokens."""

    def __init__(self, session: AsyncSession, settings: Settings, caller: Caller) -> None:
        self._session = session
        self._settings = settings
        self._caller = caller

    async def create(
        self, *, email: str, role: StaffRole, name: str = "", password: str | None = None
    ) -> Staff:
        """Add a staff account; without a password it can only use API tokens."""
        email = normalize_email(email)
        if await self.find(email) is not None:
            raise StaffExists()
        password_hash = None
        if password is not None:
            await self._check_strength(password, email=email, name=name)
            password_hash = await passwords.hash_password(password)
        staff = Staff(
            email=email,
            name=name,
            role=role.value,
            password_hash=password_hash,
            active=True,
            created_at=self._caller.now,
        )
        self._session.add(staff)
        await self._session.flush()
        record(self._session, self._caller, "staff.create", ("staff", staff.id), role=role.value)
        return staff

    async def find(self, email: str) -> Staff | None:
        query = sa.select(Staff).where(staff_table.c.email == email.strip().lower())
        return (await self._session.scalars(query)).first()

    async def get(self, staff_id: int) -> Staff:
        staff = await self._session.get(Staff, staff_id)
        if staff is None:
            raise NotFound("There is no staff account with this id.")
        return staff

    async def all(self) -> list[Staff]:
        return list(await self._session.scalars(sa.select(Staff).order_by(staff_table.c.id)))

    async def update(
        self,
        staff: Staff,
        *,
        role: StaffRole | None = None,
        active: bool | None = None,
        name: str | None = None,
        password: str | None = None,
    ) -> Staff:
        """Change an account; disabling one returns its claimed calls to the queue and its
        inquiries to nobody.

        A new password or a disabled account ends every session and token of the account:
        whoever held one may be why it changed. Enabling it again revives none of them.
        """
        changed: list[str] = []
        given_back: list[int] = []
        demoted = role is not None and role is not StaffRole.ADMIN
        if staff.role == StaffRole.ADMIN and (demoted or active is False):
            await self._keep_an_admin(staff)
        if role is not None and role != staff.role:
            staff.role = role.value
            changed.append("role")
        if name is not None and name != staff.name:
            staff.name = name
            changed.append("name")
        if password is not None:
            await self.set_password(staff, password)
            changed.append("password")
        if active is not None and active != staff.active:
            staff.active = active
            changed.append("active")
            if not active:
                assert staff.id is not None
                await release_claims(self._session, staff.id)
                given_back = await self._give_back_inquiries(staff.id)
        if "password" in changed or (active is False and "active" in changed):
            await self.revoke_all(staff)
        await self._session.flush()
        record(
            self._session,
            self._caller,
            "staff.update",
            ("staff", staff.id),
            changed=changed,
            role=staff.role,
            active=staff.active,
            **({"unassigned": given_back} if given_back else {}),
        )
        return staff

    async def mint_token(
        self,
        staff: Staff,
        *,
        kind: TokenKind = TokenKind.API,
        label: str = "",
        lifetime: timedelta | None = None,
        never_expires: bool = False,
        second_factor: SecondFactor | None = None,
    ) -> MintedToken:
        """A new token for this account; the secret is returned here and never again.

        It expires after `lifetime`, by default INQUIRY_STAFF_TOKEN_DAYS (an API token) or
        INQUIRY_STAFF_SESSION_HOURS (a session); an API token lives until revoked only when
        asked for with `never_expires`.
        """
        assert staff.id is not None
        if never_expires and kind is not TokenKind.API:
            raise ValueError("only an API token may live until revoked")
        if lifetime is None and kind is TokenKind.API:
            lifetime = timedelta(days=self._settings.staff_token_days)
        elif lifetime is None:
            lifetime = timedelta(hours=self._settings.staff_session_hours)
        secret = auth.mint()
        row = ApiToken(
            staff_id=staff.id,
            kind=kind.value,
            label=label,
            prefix=auth.shown_prefix(secret),
            token_hash=auth.digest(secret),
            created_at=self._caller.now,
            expires_at=None if never_expires else self._caller.now + lifetime,
            second_factor=second_factor is not None,
        )
        self._session.add(row)
        await self._session.flush()
        action = "session.create" if kind is TokenKind.SESSION else "token.create"
        expires = row.expires_at.isoformat() if row.expires_at else None
        record(
            self._session,
            self._caller,
            action,
            ("staff", staff.id),
            token=row.id,
            expires=expires,
            **({"second_factor": second_factor.value} if second_factor else {}),
        )
        return MintedToken(secret=secret, row=row)

    async def set_language(self, staff: Staff, language: str) -> None:
        """The language the staff console speaks to this member: en or fr."""
        if language not in ("en", "fr"):
            raise ValueError(f"{language!r} is not en or fr")
        if staff.language != language:
            staff.language = language
            await self._session.flush()
            record(self._session, self._caller, "staff.language", ("staff", staff.id), to=language)

    async def tokens_of(self, staff: Staff) -> list[ApiToken]:
        query = (
            sa.select(ApiToken)
            .where(token_table.c.staff_id == staff.id)
            .order_by(token_table.c.id.desc())
        )
        return list(await self._session.scalars(query))

    async def get_token(self, token_id: int) -> ApiToken:
        token = await self._session.get(ApiToken, token_id)
        if token is None:
            raise NotFound("There is no token with this id.")
        return token

    async def revoke(self, token: ApiToken, *, action: str = "token.revoke") -> ApiToken:
        """Revoke a token from now on (revoking twice keeps the first time)."""
        if token.revoked_at is None:
            token.revoked_at = self._caller.now
        await self._session.flush()
        record(self._session, self._caller, action, ("staff", token.staff_id), token=token.id)
        return token

    async def revoke_all(self, staff: Staff, *, keep: ApiToken | None = None) -> int:
        """Revoke every live session and token of the account but `keep`; how many."""
        live = sa.and_(token_table.c.staff_id == staff.id, token_table.c.revoked_at.is_(None))
        if keep is not None:
            live = sa.and_(live, token_table.c.id != keep.id)
        result = await self._session.execute(
            sa.update(token_table).where(live).values(revoked_at=self._caller.now)
        )
        revoked = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if revoked:
            record(
                self._session, self._caller, "token.revoke_all", ("staff", staff.id), count=revoked
            )
        return revoked

    async def reset_two_factor(self, staff: Staff) -> None:
        """Remove the account's second factor and end its sessions (see TwoFactor.reset)."""
        await TwoFactor(self._session, self._settings, self._caller).reset(staff)

    async def set_password(self, staff: Staff, password: str) -> None:
        """Check and store a new password (the caller decides what it revokes)."""
        await self._check_strength(password, email=staff.email, name=staff.name)
        staff.password_hash = await passwords.hash_password(password)

    async def _check_strength(self, password: str, *, email: str, name: str) -> None:
        settings = self._settings
        local, _, domain = email.partition("@")
        await passwords.check_strength(
            password,
            settings.staff_password_min_length,
            min_score=settings.staff_password_min_score,
            user_inputs=[email, local, domain, *name.split(), *settings.clinic_name.split()],
        )

    async def _give_back_inquiries(self, staff_id: int) -> list[int]:
        """A disabled account's inquiries are assigned to nobody: others see them again."""
        result = await self._session.execute(
            sa.update(inquiry_table)
            .where(inquiry_table.c.assignee_id == staff_id)
            .values(assignee_id=None)
            .returning(inquiry_table.c.id)
        )
        return sorted(result.scalars())

    async def _keep_an_admin(self, staff: Staff) -> None:
        others = await self._session.scalar(
            sa.select(sa.func.count())
            .select_from(staff_table)
            .where(
                staff_table.c.role == StaffRole.ADMIN.value,
                staff_table.c.active.is_(True),
                staff_table.c.id != staff.id,
            )
        )
        if not others:
            raise TransitionNotAllowed("The last active admin cannot be demoted or disabled.")
