"""Fast path: the worker's outbox statements on asyncpg's own connection (PostgreSQL).

What it bypasses: SQLAlchemy's execution. The statements are SQLAlchemy's own, compiled once
for asyncpg, but at each execution their values go to asyncpg as they are and rows come back
as asyncpg's records: no bind or result processing (type conversion), no engine events,
isolation level or SQL echo, and errors are asyncpg's own, not SQLAlchemy's. That is sound
only for types asyncpg converts as SQLAlchemy would (`passes_as_is`): a test walks every
column and parameter these statements touch, and another runs the same work through both
paths and compares what they read and write. SQLite runs the statements through SQLAlchemy.

What it buys: an execution with its transaction took 0.45-0.65 ms of the worker's CPU through
SQLAlchemy, 0.18 ms on asyncpg alone. Draining 2,000 messages (tests/bench/notify_bench.py,
PostgreSQL), the worker's CPU went from 645-653 to 586-610 µs a message, and its rate from
0.82 to 0.87 of a bare aiosmtplib loop in 8 alternating rounds (0.85 to 0.87 in 4 paired runs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.sql.sqltypes import AutoString

# An AsyncConnection (SQLite, or anything else SQLAlchemy drives) or asyncpg's connection.
Connection: TypeAlias = AsyncConnection | asyncpg.Connection

_Sql: TypeAlias = sa.Select[Any] | sa.UpdateBase
_ASYNCPG = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]

# Types whose values SQLAlchemy's asyncpg dialect hands over and reads back unchanged: for
# them, skipping SQLAlchemy skips nothing. Not so for JSON, Enum (names, not values), Uuid,
# Numeric and the like: a column of such a type needs its conversion written here first.
_AS_IS = frozenset({sa.String, sa.Text, AutoString, sa.Integer, sa.Boolean, sa.DateTime})


def passes_as_is(type_: sa.types.TypeEngine[Any]) -> bool:
    """Whether values of this column or parameter type need no conversion on this path."""
    if isinstance(type_, postgresql.ARRAY):
        return passes_as_is(type_.item_type)
    return type(type_) in _AS_IS


class Statement:
    """One of the worker's statements, run through SQLAlchemy or, on asyncpg's own connection
    (see `transaction`), as the same statement compiled once for asyncpg.

    `on_asyncpg` is the statement's form for asyncpg, where it differs (a list of ids bound
    as one array).
    """

    def __init__(self, statement: _Sql, on_asyncpg: _Sql | None = None) -> None:
        self.statement = statement
        self.compiled = (on_asyncpg if on_asyncpg is not None else statement).compile(
            dialect=_ASYNCPG
        )
        self._sql = str(self.compiled)
        self._names = self.compiled.positiontup or []
        # The statement's own values (status names, NULLs) are parameters that carry a value;
        # the others must be given at each execution (a KeyError names a missing one).
        self._fixed = {
            name: bind.effective_value
            for name, bind in self.compiled.binds.items()
            if not bind.required
        }

    def _args(self, values: Mapping[str, Any]) -> list[Any]:
        return [values[name] if name in values else self._fixed[name] for name in self._names]

    async def rows(self, connection: Connection, values: Mapping[str, Any]) -> Sequence[Any]:
        if isinstance(connection, AsyncConnection):
            return (await connection.execute(self.statement, values)).all()
        rows: list[Any] = await connection.fetch(self._sql, *self._args(values))
        return rows

    async def count(self, connection: Connection, values: Mapping[str, Any]) -> int:
        """Runs a statement that writes; returns how many rows it wrote."""
        if isinstance(connection, AsyncConnection):
            return (await connection.execute(self.statement, values)).rowcount
        status: str = await connection.execute(self._sql, *self._args(values))
        return int(status.rsplit(" ", 1)[1])  # "UPDATE 50"

    async def many(self, connection: Connection, values: Sequence[Mapping[str, Any]]) -> None:
        if isinstance(connection, AsyncConnection):
            await connection.execute(self.statement, list(values))
        else:
            await connection.executemany(self._sql, [self._args(each) for each in values])


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[Connection]:
    """One transaction for the worker's statements: on asyncpg's own connection on
    PostgreSQL (taken from the engine's pool, checked on checkout as any other), otherwise
    through SQLAlchemy.

    The asyncpg transaction must stay inside the checkout: SQLAlchemy's reset on return
    cannot see it, and asyncpg ends it before the connection goes back.
    """
    if engine.dialect.driver != "asyncpg":
        async with engine.begin() as connection:
            yield connection
        return
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None  # a checked-out connection has one
        try:
            async with driver.transaction():
                yield driver
        except BaseException:
            # The pool cannot see a transaction it did not start: a connection whose rollback
            # may not have finished is closed rather than handed to the next caller.
            await connection.invalidate()
            raise
