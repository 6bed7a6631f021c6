"""``sigmax export trades|decisions|equity``: every column of the stored rows, exact decimals.

CSV and JSON write each money or quantity as its exact decimal text (``0.09992260`` stays what
the store holds, never a float); Parquet stores it as ``decimal128(38, 18)``, PostgreSQL's
column type, so it is exact there too. JSON columns (a decision's record, an order's policy
verdict) are JSON text in CSV and Parquet, objects in JSON. Rows come oldest first.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Column, select
from sqlalchemy.sql.elements import ColumnElement

from sigmax.errors import InputError
from sigmax.storage.database import Database
from sigmax.storage.models import DecisionRow, EquitySnapshotRow, FillRow, OrderRow
from sigmax.storage.types import ExactDecimal, JsonDocument


class Dataset(StrEnum):
    TRADES = "trades"
    DECISIONS = "decisions"
    EQUITY = "equity"


class Format(StrEnum):
    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"


#: A trade: the fill's columns, then its order's, prefixed ``order_``.
_ORDER_COLUMNS: Final = (
    "client_order_id", "venue", "exchange_order_id", "type", "qty", "price", "filled_qty",
    "status", "reject_reason", "policy_verdict", "created_at_ms",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    kind: str  # "decimal" | "json" | "int" | "float" | "text" | "bool"


@dataclass(frozen=True, slots=True)
class Table:
    columns: list[ColumnSpec]
    rows: list[list[Any]]


def _kind(column: Column[Any] | ColumnElement[Any]) -> str:
    type_ = column.type
    if isinstance(type_, ExactDecimal):
        return "decimal"
    if isinstance(type_, JsonDocument):
        return "json"
    try:
        python: type[Any] = type_.python_type
    except NotImplementedError:
        python = str
    if python is bool:
        return "bool"
    if python is int:
        return "int"
    if python is float:
        return "float"
    return "text"


def read_table(
    db: Database, dataset: Dataset, start_ms: int | None = None, end_ms: int | None = None
) -> Table:
    """The rows of ``dataset`` whose time is in ``[start_ms, end_ms)``."""
    if dataset is Dataset.TRADES:
        fill_cols = list(FillRow.__table__.columns)
        order_cols = [OrderRow.__table__.c[name] for name in _ORDER_COLUMNS]
        specs = [ColumnSpec(c.name, _kind(c)) for c in fill_cols] + [
            ColumnSpec(f"order_{c.name}", _kind(c)) for c in order_cols
        ]
        query = (
            select(*fill_cols, *order_cols)
            .join(OrderRow.__table__, FillRow.order_id == OrderRow.id)
            .order_by(FillRow.filled_at_ms, FillRow.id)
        )
        moment: Any = FillRow.filled_at_ms
    else:
        model: Any = DecisionRow if dataset is Dataset.DECISIONS else EquitySnapshotRow
        cols = list(model.__table__.columns)
        specs = [ColumnSpec(c.name, _kind(c)) for c in cols]
        moment = model.decided_at_ms if dataset is Dataset.DECISIONS else model.taken_at_ms
        query = select(*cols).order_by(moment, model.__table__.c[cols[0].name])
    if start_ms is not None:
        query = query.where(moment >= start_ms)
    if end_ms is not None:
        query = query.where(moment < end_ms)
    with db.session() as session:
        rows = [[_plain(value) for value in row] for row in session.execute(query)]
    return Table(specs, rows)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "decimal":
        return format(value, "f")
    if kind == "json":
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def write_export(table: Table, fmt: Format, output: Path) -> int:
    """Write ``table`` to ``output``; returns the number of rows."""
    output.parent.mkdir(parents=True, exist_ok=True)
    names = [c.name for c in table.columns]
    kinds = [c.kind for c in table.columns]
    if fmt is Format.CSV:
        with output.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for row in table.rows:
                writer.writerow([_text(v, k) for v, k in zip(row, kinds, strict=True)])
    elif fmt is Format.JSON:
        records = [
            {
                n: (format(v, "f") if k == "decimal" and v is not None else v)
                for n, v, k in zip(names, row, kinds, strict=True)
            }
            for row in table.rows
        ]
        output.write_text(
            json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    else:
        _write_parquet(table, output)
    return len(table.rows)


def _write_parquet(table: Table, output: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        raise InputError("--format parquet needs pyarrow (pip install pyarrow)") from None
    types = {
        "decimal": pa.decimal128(38, 18),
        "json": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "text": pa.string(),
    }
    arrays = []
    for index, column in enumerate(table.columns):
        values = [row[index] for row in table.rows]
        if column.kind == "json":
            values = [None if v is None else _text(v, "json") for v in values]
        if column.kind == "decimal":
            _check_scale(column.name, values)
        arrays.append(pa.array(values, type=types[column.kind]))
    pq.write_table(pa.Table.from_arrays(arrays, names=[c.name for c in table.columns]), output)


def _check_scale(name: str, values: Sequence[Any]) -> None:
    for value in values:
        if isinstance(value, Decimal) and value.as_tuple().exponent < -18:  # type: ignore[operator]
            raise InputError(
                f"{name}: {value} has more than 18 decimal places; Parquet's decimal128(38, 18) "
                "cannot hold it exactly: export as csv or json"
            )
