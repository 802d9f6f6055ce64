"""Journal export to CSV or Parquet, streamed in chunks of journal order (seq)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, select

from creditpay.errors import ValidationError
from creditpay.ledger.tables import ledger_transfers

__all__ = ["export_journal", "EXPORT_CHUNK_ROWS"]

EXPORT_CHUNK_ROWS = 50_000
_COLUMNS = ["seq", "id", "kind", "debit_account_id", "credit_account_id", "amount_minor",
            "pending_released_minor", "currency", "code", "pending_id", "hold_status",
            "expires_at", "reference", "batch_id", "created_at"]


def export_journal(conn: Connection, path: str | Path, fmt: str | None = None) -> int:
    """Write every transfer to ``path`` (``.csv`` or ``.parquet``); returns rows written."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in {"csv", "parquet"}:
        raise ValidationError("must be csv or parquet", field="format")
    fields: list[tuple[str, pa.DataType]] = [
        ("seq", pa.int64()), ("id", pa.string()), ("kind", pa.string()),
        ("debit_account_id", pa.int64()), ("credit_account_id", pa.int64()),
        ("amount_minor", pa.int64()), ("pending_released_minor", pa.int64()),
        ("currency", pa.string()), ("code", pa.string()), ("pending_id", pa.string()),
        ("hold_status", pa.string()), ("expires_at", pa.string()), ("reference", pa.string()),
        ("batch_id", pa.string()), ("created_at", pa.string()),
    ]
    schema = pa.schema(fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [ledger_transfers.c[name] for name in _COLUMNS]
    writer = pq.ParquetWriter(path, schema) if fmt == "parquet" else \
        pa_csv.CSVWriter(path, schema)
    written = 0
    last_seq = 0
    try:
        while True:
            rows = conn.execute(select(*columns).where(ledger_transfers.c.seq > last_seq)
                                .order_by(ledger_transfers.c.seq)
                                .limit(EXPORT_CHUNK_ROWS)).all()
            if not rows:
                break
            data = {name: [row[i] for row in rows] for i, name in enumerate(_COLUMNS)}
            for name in ("expires_at", "created_at"):
                data[name] = [v.isoformat() if v is not None else None for v in data[name]]
            writer.write_table(pa.table(data, schema=schema))
            written += len(rows)
            last_seq = rows[-1][0]
    finally:
        writer.close()
    return written
