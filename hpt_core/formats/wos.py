"""The Web of Science corpus as published (WOS-46985 ``Data.txt``, tab-separated with padded
fields and quoted abstracts, or ``Data.xlsx``): text = Abstract, labels = Domain > area."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hpt_core.errors import HPTInputError
from hpt_core.hierarchy import read_text
from hpt_core.inputs import csv_rows
from hpt_core.records import Record

WOS_COLUMNS = ("Domain", "area", "Abstract")


def wos_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            import openpyxl

            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except FileNotFoundError:
            raise HPTInputError("file not found", path) from None
        except Exception as err:  # openpyxl raises many types for a damaged file
            raise HPTInputError(f"not a readable .xlsx workbook ({type(err).__name__}: {err})", path) from None
        try:
            for n, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
                row = ["" if v is None else str(v) for v in values]
                if any(f.strip() for f in row):
                    yield n, row
        finally:
            book.close()
    else:
        yield from csv_rows(read_text(path), "\t", path)


def wos_records(path: Path) -> Iterator[Record]:
    file = str(path)
    rows = wos_rows(path)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise HPTInputError("file is empty", path) from None
    lower = {h.strip().lower(): i for i, h in enumerate(header)}
    missing = [c for c in WOS_COLUMNS if c.lower() not in lower]
    if missing:
        raise HPTInputError(
            f"not a WOS Data file: no column {', '.join(map(repr, missing))} "
            "(expected the header Y1, Y2, Y, Domain, area, keywords, Abstract)",
            path,
            header_line,
        )
    domain_at, area_at, text_at = (lower[c.lower()] for c in WOS_COLUMNS)
    for lineno, row in rows:
        if len(row) < len(header):
            raise HPTInputError(
                f"expected {len(header)} tab-separated fields as in the header, found {len(row)}",
                path,
                lineno,
            )
        domain, area = row[domain_at].strip(), row[area_at].strip()
        if not domain or not area:
            raise HPTInputError("empty Domain or area field", path, lineno)
        yield Record(row[text_at], [], [[domain, area]], file, lineno)
