"""Excel workbooks the console hands out: a sheet is a table of columns under one styled,
frozen header row, with widths set and times written as real Excel dates in the center's
zone. Written row by row (openpyxl's write-only mode), so a long export stays small in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from starlette.responses import Response

DATETIME = "yyyy-mm-dd hh:mm"
DATE = "yyyy-mm-dd"
PERCENT = "0.0%"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEADER_ALIGN = Alignment(horizontal="center", vertical="center")


@dataclass(frozen=True)
class Column:
    header: str
    width: float = 12  # in characters (a Chinese character counts about two)
    number_format: str | None = None  # e.g. DATETIME, DATE, PERCENT


def workbook() -> Workbook:
    return Workbook(write_only=True)


def table(
    book: Workbook, title: str, columns: Sequence[Column], rows: Iterable[Sequence[Any]]
) -> int:
    """A sheet `title`: the styled header row, frozen, and `rows` under it (a row's values in
    the order of `columns`; None leaves a cell empty; a (value, number_format) pair formats
    that one cell, where a column's values differ in kind). How many rows it wrote."""
    sheet: WriteOnlyWorksheet = book.create_sheet(title)
    for index, column in enumerate(columns, start=1):
        dimensions = sheet.column_dimensions  # type: ignore[attr-defined]  # set by _setup
        dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"
    sheet.append([_header(sheet, column.header) for column in columns])
    formats = [column.number_format for column in columns]
    written = 0
    for row in rows:
        sheet.append([_cell(sheet, value, form) for value, form in zip(row, formats, strict=True)])
        written += 1
    return written


def _header(sheet: WriteOnlyWorksheet, text: str) -> Cell:
    cell = WriteOnlyCell(sheet, value=text)
    cell.font, cell.fill, cell.alignment = _HEADER_FONT, _HEADER_FILL, _HEADER_ALIGN
    return cell


def _cell(sheet: WriteOnlyWorksheet, value: Any, number_format: str | None) -> Any:
    if isinstance(value, tuple):
        value, number_format = value
    if number_format is None or value is None:
        return value
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = number_format
    return cell


def local(moment: dt.datetime | None, zone: ZoneInfo) -> dt.datetime | None:
    """An aware moment as the center's wall-clock time (Excel dates carry no zone)."""
    return None if moment is None else moment.astimezone(zone).replace(tzinfo=None)


def content(book: Workbook) -> bytes:
    """The workbook's .xlsx file."""
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def download(book: Workbook, filename: str) -> Response:
    """The workbook as a download named `filename` (may be Chinese)."""
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    return Response(content(book), media_type=XLSX, headers={"content-disposition": disposition})
