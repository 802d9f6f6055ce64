"""The notice of a limit lowered by an early-warning playbook is, byte for byte, what it
was before its text moved into the gettext catalogs (``creditpay.i18n``):
notice_texts_golden.json was written by the code before the move (main at 68d957c)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from tests.risk.early_warning.conftest import add_alert

from creditpay.db.tables import outbox_events
from creditpay.risk.early_warning.service import LIMIT_LOWERED_TOPIC, execute_alert_playbook

GOLDEN = json.loads((Path(__file__).parent / "notice_texts_golden.json").read_text("utf-8"))


def test_limit_lowered_notice(book) -> None:  # type: ignore[no-untyped-def]
    uow, _ = book
    alert_id = add_alert(uow, "lower_limits", segment="grade:B")
    execute_alert_playbook(uow, alert_id, "op_risk", ["risk_analyst"], {"share": "0.25"})
    with uow.connect() as conn:
        messages = {row.aggregate_id: row.payload["message"] for row in conn.execute(
            select(outbox_events).where(outbox_events.c.topic == LIMIT_LOWERED_TOPIC))}
    assert json.dumps(messages, ensure_ascii=False, sort_keys=True) == json.dumps(
        GOLDEN, ensure_ascii=False, sort_keys=True)
