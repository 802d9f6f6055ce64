"""The read of an account's auto-debit switch (My credit shows it): the switch as set,
the customer's own accounts only. On both stores."""

from __future__ import annotations

import pytest

from creditpay.credit import service as S
from creditpay.errors import NotFoundError, ValidationError
from creditpay.protection.auto_debit import set_auto_debit_with_consent
from tests.credit.servicing_helpers import grant_auto_debit, new_customer


def test_auto_debit_enabled_reads_the_switch_of_the_customer_s_own_account(uow):
    who = new_customer(uow, "c1")
    with uow.connect() as conn:
        assert S.auto_debit_enabled(conn, who.line_id, "c1") is False
    with uow.begin() as tx:
        reference = grant_auto_debit(tx, "c1")
        set_auto_debit_with_consent(tx, account_id=who.line_id, enabled=True,
                                    wallet_account_id=who.wallet_id,
                                    consent_reference=reference)
    with uow.connect() as conn:
        assert S.auto_debit_enabled(conn, who.line_id, "c1") is True
        # Another customer's account does not exist for this one.
        with pytest.raises(NotFoundError) as other:
            S.auto_debit_enabled(conn, who.line_id, "c2")
        assert other.value.field == "account_id"
        with pytest.raises(NotFoundError):
            S.auto_debit_enabled(conn, "line_nobody", "c1")
        with pytest.raises(ValidationError):
            S.auto_debit_enabled(conn, "", "c1")
