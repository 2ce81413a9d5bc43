"""CSV as spreadsheets read it: cells a spreadsheet would run as formulas escaped, phone
numbers kept as text, and an optional UTF-8 byte order mark so that Excel shows accents."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any

import phonenumbers

# Spreadsheets run cells that start with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
_FLUSH_EVERY = 500


def safe_cell(value: Any) -> str:
    """The cell as text, with a leading apostrophe when a spreadsheet would run it."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def phone_cell(e164: str | None) -> str | None:
    """A stored number as a spreadsheet keeps it as text: North American numbers in national
    format ("(416) 555-0199"); others in international format, escaped by safe_cell."""
    if not e164:
        return e164
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 1:
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


async def csv_text(
    header: Sequence[str], rows: AsyncIterator[Sequence[Any]], *, bom: bool = False
) -> AsyncIterator[str]:
    """The header and rows as CSV text, in pieces of a few hundred rows, every cell escaped."""
    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer)
    writer.writerow(header)
    count = 0
    async for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        count += 1
        if count % _FLUSH_EVERY == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
