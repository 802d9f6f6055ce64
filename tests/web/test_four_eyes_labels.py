"""The console's approvals queue names every controlled kind and every payload field of the
credit control proposals (issue #16), in English and zh-CN: a kind added to the bootstrap
without its label, or a payload field without its name, fails here."""

from __future__ import annotations

import datetime as dt

from creditpay.bootstrap import ServiceOptions, Services
from creditpay.clock import SimulatedClock
from creditpay.config import Settings
from creditpay.credit.limits import limit_proposal
from creditpay.credit.write_off_reversal import reversal_proposal
from creditpay.web.console import KIND_NAMES, PAYLOAD_LABELS
from creditpay.web.i18n import translations


def test_every_controlled_kind_has_a_label_in_both_languages(tmp_path):
    from creditpay.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'labels.db'}")
    try:
        services = Services(Settings.from_env(f"sqlite:///{tmp_path / 'labels.db'}"),
                            SimulatedClock("2025-03-01T09:00:00+00:00"), ServiceOptions(),
                            engine)
        kinds = set(services.controlled_actions)
    finally:
        engine.dispose()
    assert kinds <= set(KIND_NAMES), kinds - set(KIND_NAMES)
    zh = translations("zh-CN")
    for label in (*KIND_NAMES.values(), *PAYLOAD_LABELS.values()):
        assert zh.gettext(label) != label, label


def test_every_payload_field_of_the_credit_control_kinds_has_a_label():
    line = {"line_id": "line_c1_CNY", "customer_id": "c1", "currency": "CNY",
            "limit_minor": 1, "limit_version": 1}
    account = {"account_id": "line_c1_CNY", "customer_id": "c1", "currency": "CNY",
               "kind": "line", "written_off_on": dt.date(2025, 9, 1),
               "written_off_minor": 1}
    fields = {*limit_proposal(line, 2, "r"), *reversal_proposal(account, "r"),
              "name", "version", "challenger_share_bps", "reason", "in_force",
              "assignments_seen",
              # product.change and caps.change (credit.catalogue_versions), but "document":
              # the queue names a document by its code, version and content hash.
              "code", "jurisdiction", "content_hash"}
    assert fields <= set(PAYLOAD_LABELS), fields - set(PAYLOAD_LABELS)
