"""Credit tables (owner: ``creditpay.credit``; no other module writes them).

* ``credit_lines``: a customer's pay-later line: limit, product version, ledger account.
* ``credit_accounts``: one row per servicing account (a line's revolving balance, an
  installment plan, a cash loan) with its balances by component and status. The close of
  business reads and writes these columns in bulk, so everything it needs per day is here:
  integer rates (millionths), the interest base kind, exact accrual numerators.
* ``credit_installments``: due items: schedule installments of plans and loans, and the one
  due item of each line statement.
* ``credit_authorisations`` / ``credit_purchases`` / ``credit_refunds`` /
  ``credit_repayments`` / ``credit_conversions``: one row per use case, keyed by the
  caller's id (idempotency), with the request fingerprint and the stored result.
* ``credit_statements``: monthly statements of lines.
* ``credit_cob_runs`` / ``credit_cob_chunks``: close-of-business runs per business date and the
  chunks done (a crash resumes at the first chunk not recorded).

Money columns are BigInteger minor units; rates are integer millionths (``*_rate_micro``)
converted from the product's ``Decimal``; accrual numerators are in units of
``1 / (1_000_000 * year_basis_days)`` of a minor unit, exact until posted.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)

from creditpay.db.metadata import BigIntPK, JSONType, UtcDateTime, metadata

__all__ = [
    "affordability_checks",
    "credit_lines",
    "credit_accounts",
    "credit_installments",
    "credit_authorisations",
    "AUTHORISATION_OPEN_SQL",
    "credit_purchases",
    "credit_refunds",
    "credit_repayments",
    "credit_conversions",
    "credit_statements",
    "credit_cob_runs",
    "credit_cob_chunks",
    "credit_quotes",
    "credit_month_end_states",
    "credit_month_end_cells",
    "credit_write_offs",
    "BAD_ACCOUNT_SQL",
    "credit_day_end_positions",
    "credit_catalogue_versions",
    "credit_funding_arrangements",
    "credit_funding_loans",
    "credit_funding_shares",
    "credit_funding_positions",
    "credit_funding_flows",
    "credit_funding_decisions",
    "credit_funding_settlements",
    "credit_funding_cursor",
    "credit_funding_followed",
]

# An account that makes its customer "bad" for the dashboard's bad rate: 30 or more days
# past due now, or written off. Inline literals, not parameters: SQLite uses a partial index
# only when the query repeats its WHERE terms word for word (credit.portfolio_queries).
BAD_ACCOUNT_SQL = "dpd >= 30 OR status = 'written_off'"

credit_lines = Table(
    "credit_lines",
    metadata,
    Column("line_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("product_code", String(48), nullable=False),
    Column("product_version", Integer, nullable=False),
    Column("limit_minor", BigInteger, nullable=False),
    Column("limit_version", Integer, nullable=False),  # bumps on every limit change
    Column("available_account_id", BigInteger, nullable=False),  # ledger account
    Column("status", String(12), nullable=False),  # active | frozen | closed
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Who froze a frozen line: the consumer (liftable by them after a one-time code) or the
    # lender (a write-off; NULL on lines frozen before migration 0042 counts as the lender's).
    Column("frozen_reason", String(24), nullable=True),
    CheckConstraint("limit_minor >= 0", name="limit_non_negative"),
    CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status"),
    # ``hardship``: frozen while a hardship arrangement runs (migration 0043).
    CheckConstraint("frozen_reason IS NULL OR frozen_reason IN ('customer_request',"
                    " 'write_off', 'hardship')", name="frozen_reason"),
    UniqueConstraint("customer_id", "currency"),
)

credit_accounts = Table(
    "credit_accounts",
    metadata,
    Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),  # line | plan | loan
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("line_id", String(64), nullable=True),  # the line whose limit it consumes
    Column("product_code", String(48), nullable=False),
    Column("product_version", Integer, nullable=False),
    Column("method", String(24), nullable=True),
    Column("style", String(12), nullable=True),  # lines: revolve | no_revolve
    Column("status", String(12), nullable=False),  # active | closed | written_off
    Column("opened_on", Date, nullable=False),
    Column("principal_original_minor", BigInteger, nullable=False),
    # Principal repaid ahead of its due dates (prepayments, lifetime). A flat loan's interest
    # is on principal_original_minor - principal_prepaid_minor (interest base 3).
    Column("principal_prepaid_minor", BigInteger, nullable=False, default=0,
           server_default="0"),
    # Pricing copied from the product version at origination (a later version never
    # reprices an existing account).
    Column("interest_rate_micro", BigInteger, nullable=False),
    Column("penalty_rate_micro", BigInteger, nullable=False),
    Column("year_basis_days", Integer, nullable=False),
    # 0 none, 1 principal not past due, 2 past-due principal, 3 principal lent less
    # principal prepaid, while any is current (flat)
    Column("interest_base", Integer, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("late_fee_minor", BigInteger, nullable=False),
    Column("write_off_dpd", Integer, nullable=False),
    Column("statement_day", Integer, nullable=True),
    # Balances (minor units). principal = unbilled + billed + past_due.
    Column("principal_unbilled_minor", BigInteger, nullable=False),
    Column("principal_billed_minor", BigInteger, nullable=False),
    Column("principal_past_due_minor", BigInteger, nullable=False),
    Column("penalty_unpaid_minor", BigInteger, nullable=False),  # posted, unpaid
    Column("late_fee_unpaid_minor", BigInteger, nullable=False),  # posted, unpaid
    Column("interest_accrual_num", BigInteger, nullable=False),  # accrued, not yet posted
    Column("penalty_accrual_num", BigInteger, nullable=False),
    Column("interest_posted_minor", BigInteger, nullable=False),  # lifetime, to reconcile
    Column("penalty_posted_minor", BigInteger, nullable=False),
    Column("fee_posted_minor", BigInteger, nullable=False),
    Column("oldest_past_due_date", Date, nullable=True),  # drives dpd
    Column("latest_past_due_date", Date, nullable=True),  # drives late fees
    Column("late_fee_through_date", Date, nullable=True),
    Column("next_due_date", Date, nullable=True),  # next installment not yet billed
    Column("dpd", Integer, nullable=False),
    Column("bucket", String(4), nullable=False),
    Column("written_off_minor", BigInteger, nullable=False),
    Column("recovered_minor", BigInteger, nullable=False),
    Column("written_off_on", Date, nullable=True),
    Column("auto_debit_enabled", Boolean, nullable=False),
    Column("auto_debit_consent_ref", String(128), nullable=True),
    Column("auto_debit_account_id", BigInteger, nullable=True),  # ledger account (wallet)
    Column("prepayment_rule", String(24), nullable=False),
    Column("fee_payer", String(10), nullable=False),
    Column("subsidy_fee_minor", BigInteger, nullable=False),  # merchant-paid fee
    Column("schedule_level_minor", BigInteger, nullable=True),  # level payment / principal
    Column("anchor_day", Integer, nullable=True),  # day of month the due dates keep
    # Ledger accounts this account posts to (copied here so the close of business needs no
    # lookups): the customer's receivables and the line whose limit it consumes.
    Column("principal_account_id", BigInteger, nullable=False),
    Column("interest_account_id", BigInteger, nullable=False),
    Column("fee_account_id", BigInteger, nullable=False),
    Column("penalty_account_id", BigInteger, nullable=False),
    Column("line_available_account_id", BigInteger, nullable=True),
    Column("last_cob_date", Date, nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("kind IN ('line', 'plan', 'loan')", name="kind"),
    CheckConstraint("status IN ('active', 'closed', 'written_off')", name="status"),
    CheckConstraint(
        "principal_unbilled_minor >= 0 AND principal_billed_minor >= 0"
        " AND principal_past_due_minor >= 0 AND penalty_unpaid_minor >= 0"
        " AND late_fee_unpaid_minor >= 0 AND interest_accrual_num >= 0"
        " AND penalty_accrual_num >= 0", name="balances_non_negative"),
    CheckConstraint("recovered_minor <= written_off_minor", name="recovery_bounded"),
    # With status: a borrower's exposure sums their active accounts (every quote and
    # authorisation). On (customer_id, currency) alone SQLite preferred the covering book
    # index below for "currency = ? AND status = ?" and summed the whole active book per
    # borrower (migration 0047_demo_scale_indexes).
    Index("ix_credit_accounts_customer", "customer_id", "currency", "status"),
    Index("ix_credit_accounts_line", "line_id"),
    # The dashboard's book views (credit.portfolio_queries.book_cells) read only these
    # columns: the index covers the query, so it reads ~50 bytes an account instead of the
    # wide row, already in (product, bucket, dpd) order (no sort). opened_on is last so that
    # SQLite never picks it for a range and loses that order.
    Index("ix_credit_accounts_book", "currency", "status", "product_code", "bucket", "dpd",
          "principal_unbilled_minor", "principal_billed_minor", "principal_past_due_minor",
          "penalty_unpaid_minor", "late_fee_unpaid_minor", "opened_on"),
    # Partial: only the accounts that make their customer "bad" (30+ dpd or written off),
    # a few percent of the book; the bad rate by grade looks customers up in it.
    Index("ix_credit_accounts_bad", "currency", "customer_id", "dpd", "status",
          sqlite_where=text(BAD_ACCOUNT_SQL), postgresql_where=text(BAD_ACCOUNT_SQL)),
    # Partial: written-off accounts only (write-offs by month, revenue_losses view).
    Index("ix_credit_accounts_written_off", "currency", "written_off_on", "product_code",
          "written_off_minor", "recovered_minor",
          sqlite_where=text("written_off_on IS NOT NULL"),
          postgresql_where=text("written_off_on IS NOT NULL")),
)

credit_installments = Table(
    "credit_installments",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("account_seq", BigInteger, ForeignKey("credit_accounts.seq"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    # scheduled: not yet billed (interest is an estimate); billed: due; past_due; paid;
    # cancelled (replaced by a reschedule, or waived by a refund).
    Column("status", String(10), nullable=False),
    Column("principal_minor", BigInteger, nullable=False),
    Column("interest_minor", BigInteger, nullable=False),
    Column("fee_minor", BigInteger, nullable=False),
    Column("principal_paid_minor", BigInteger, nullable=False),
    Column("interest_paid_minor", BigInteger, nullable=False),
    Column("fee_paid_minor", BigInteger, nullable=False),
    Column("minimum_minor", BigInteger, nullable=False),  # lines (revolve); else the total
    Column("statement_id", String(96), nullable=True),
    CheckConstraint("status IN ('scheduled', 'billed', 'past_due', 'paid', 'cancelled')",
                    name="status"),
    CheckConstraint(
        "principal_paid_minor <= principal_minor AND interest_paid_minor <= interest_minor"
        " AND fee_paid_minor <= fee_minor AND principal_paid_minor >= 0"
        " AND interest_paid_minor >= 0 AND fee_paid_minor >= 0", name="paid_bounded"),
    UniqueConstraint("account_seq", "number"),
    # The close of business reads open items by status: due ones by date (billing), and
    # billed/past-due ones by account range (auto-debit, roll to past due, write-off).
    Index("ix_credit_installments_status_due", "status", "due_date"),
    Index("ix_credit_installments_status_account", "status", "account_seq"),
)

# The open (capturable) authorisations: the predicate of their partial index, and the very
# text the statements that should use it state.
AUTHORISATION_OPEN_SQL = "status = 'authorised'"

credit_authorisations = Table(
    "credit_authorisations",
    metadata,
    Column("authorisation_id", String(96), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("line_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("held_minor", BigInteger, nullable=False),  # financed part (after down payment)
    Column("captured_minor", BigInteger, nullable=False),
    Column("offer_id", String(64), nullable=False),
    Column("offer", JSONType, nullable=False),  # the accepted offer, as quoted
    Column("reference", String(128), nullable=True),
    Column("status", String(10), nullable=False),  # authorised | captured | voided
    Column("hold_transfer_id", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("status IN ('authorised', 'captured', 'voided')", name="status"),
    # A borrower's open holds (exposure, affordability): read by every checkout.
    Index("ix_credit_authorisations_customer", "customer_id", "currency", "status"),
    # The nightly close of expired holds pages through the open authorisations only;
    # without it every authorisation ever made was read each night (138 ms at 180 days of
    # the 1,000-customer demo). Partial: the close states the predicate as a literal
    # (AUTHORISATION_OPEN_SQL), as SQLite needs to choose it (migration
    # 0050_credit_authorisations_open).
    Index("ix_credit_authorisations_open", "status", "authorisation_id",
          sqlite_where=text(AUTHORISATION_OPEN_SQL),
          postgresql_where=text(AUTHORISATION_OPEN_SQL)),
)

credit_purchases = Table(
    "credit_purchases",
    metadata,
    Column("purchase_id", String(96), primary_key=True),  # = capture_id
    Column("request_hash", String(64), nullable=False),
    Column("authorisation_id", String(96), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("funding", String(8), nullable=False),  # line | plan
    Column("account_id", String(64), nullable=False),  # the line account or the plan
    Column("amount_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("merchant_payable_account_id", BigInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_credit_purchases_authorisation", "authorisation_id"),
)

credit_refunds = Table(
    "credit_refunds",
    metadata,
    Column("refund_id", String(96), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("purchase_id", String(96), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("result", JSONType, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

credit_repayments = Table(
    "credit_repayments",
    metadata,
    Column("repayment_id", String(96), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("channel", String(12), nullable=False),  # customer | auto_debit
    Column("result", JSONType, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_credit_repayments_customer", "customer_id"),
)

credit_conversions = Table(
    "credit_conversions",
    metadata,
    Column("conversion_id", String(96), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("statement_id", String(96), nullable=False),
    Column("plan_account_id", String(64), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("periods", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

credit_statements = Table(
    "credit_statements",
    metadata,
    Column("statement_id", String(96), primary_key=True),  # <line account>:<statement date>
    Column("account_seq", BigInteger, ForeignKey("credit_accounts.seq"), nullable=False),
    Column("statement_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("opening_balance_minor", BigInteger, nullable=False),
    Column("new_principal_minor", BigInteger, nullable=False),
    Column("interest_minor", BigInteger, nullable=False),
    Column("penalty_minor", BigInteger, nullable=False),
    Column("fee_minor", BigInteger, nullable=False),
    Column("closing_balance_minor", BigInteger, nullable=False),
    Column("minimum_payment_minor", BigInteger, nullable=False),
    Column("installment_number", Integer, nullable=False),
    Column("converted_minor", BigInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("account_seq", "statement_date"),
)

credit_cob_runs = Table(
    "credit_cob_runs",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("status", String(10), nullable=False),  # running | done
    Column("chunk_size", Integer, nullable=False),
    Column("seq_max", BigInteger, nullable=False),  # accounts above it open after the run
    Column("report", JSONType, nullable=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    CheckConstraint("status IN ('running', 'done')", name="status"),
)

credit_cob_chunks = Table(
    "credit_cob_chunks",
    metadata,
    Column("business_date", Date, ForeignKey("credit_cob_runs.business_date"),
           primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("counts", JSONType, nullable=False),
    Column("finished_at", UtcDateTime(), nullable=False),
)

# Cash-loan offers shown to a consumer (issue #5): every figure as shown, so the offer
# accepted is the one quoted (offer ids are random; one row per offer). ``loan_id`` is set
# when the offer is accepted (an offer is accepted at most once).
credit_cash_loan_quotes = Table(
    "credit_cash_loan_quotes",
    metadata,
    Column("offer_id", String(48), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("product_code", String(48), nullable=False),
    Column("product_version", Integer, nullable=False),
    Column("periods", Integer, nullable=False),
    Column("method", String(24), nullable=False),
    Column("quoted_on", Date, nullable=False),
    Column("figures", JSONType, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("loan_id", String(64), nullable=True),
    Column("accepted_at", UtcDateTime(), nullable=True),
    Index("ix_credit_cash_loan_quotes_customer", "customer_id", "created_at"),
)

# Purchase offers as quoted (issue #14): one row per quote (the offer set shown for one
# purchase), every figure of each offer as shown and, for a checkout, the SHA-256 of the
# key-facts document shown with it. Authorisation checks the stored offer (expiry, product
# version, document hash) instead of quoting again.
credit_quotes = Table(
    "credit_quotes",
    metadata,
    Column("quote_id", String(32), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("reference", String(128), nullable=True),  # e.g. the payment intent
    Column("quoted_on", Date, nullable=False),
    Column("offers", JSONType, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_credit_quotes_customer", "customer_id", "reference"),
)


# Every affordability / over-indebtedness assessment that a decision relied on.
affordability_checks = Table(
    "affordability_checks",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("customer_id", String(64), nullable=False),
    Column("kind", String(24), nullable=False),  # new_credit | limit_increase
    Column("reference", String(64), nullable=False),  # offer / application / line id
    Column("passed", Boolean, nullable=False),
    Column("failed_rules", JSONType, nullable=False),  # list of rule names
    Column("outcomes", JSONType, nullable=False),  # every rule with its figures
    Column("policy_version", Integer, nullable=False),
    Column("checked_at", UtcDateTime(), nullable=False),
    Index("ix_affordability_checks_customer", "customer_id", "kind", "checked_at"),
)


# Month-end history for the portfolio dashboard (issue #16; credit.portfolio_queries): the
# accounts' own rows hold only today's state, and a roll-rate matrix or a vintage curve
# needs where each account stood at earlier month ends. ``credit_month_end_states`` keeps
# every account's state at the LAST recorded month end only (the next month end's "from"
# state; replaced each month); ``credit_month_end_cells`` keeps, for every recorded month
# end, the book aggregated by product, vintage (opening month), state at the previous month
# end and state now: a few thousand rows a month, whatever the number of accounts.
# States: M0..M6+ (active, by bucket), WO (written off), closed; "new" (from only): not in
# the previous snapshot.
credit_month_end_states = Table(
    "credit_month_end_states",
    metadata,
    Column("account_seq", BigInteger, primary_key=True),
    Column("month_end", Date, nullable=False),
    Column("state", String(8), nullable=False),
    Column("balance_minor", BigInteger, nullable=False),
)

credit_month_end_cells = Table(
    "credit_month_end_cells",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("month_end", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("product_code", String(48), nullable=False),
    Column("vintage", String(7), nullable=False),  # YYYY-MM the accounts were opened
    Column("from_state", String(8), nullable=False),
    Column("to_state", String(8), nullable=False),
    Column("dpd30", Boolean, nullable=False),  # active and 30+ days past due at month end
    Column("accounts", BigInteger, nullable=False),
    # Of them, those lent something by this month end (a line lends draw by draw).
    Column("lent_accounts", BigInteger, nullable=False, server_default="0"),
    Column("balance_minor", BigInteger, nullable=False),  # receivable at this month end
    Column("from_balance_minor", BigInteger, nullable=False),  # at the previous month end
    Column("original_minor", BigInteger, nullable=False),  # principal lent
    Column("written_off_minor", BigInteger, nullable=False),  # cumulative, to this month end
    # Income posted over the accounts' lives, to this month end (a month's revenue is the
    # difference between two month ends; the ledger's journal holds it per account per day).
    Column("interest_posted_minor", BigInteger, nullable=False),
    Column("fee_posted_minor", BigInteger, nullable=False),
    Column("penalty_posted_minor", BigInteger, nullable=False),
    Index("ix_credit_month_end_cells_month", "month_end", "product_code"),
)


# What a write-off changed, kept so that a write-off made by mistake can be reversed exactly
# (issue #16, four-eyes kind write_off.reverse; credit.write_off_reversal): the account's
# balances the close of business zeroed (``state``: column -> value, dates as ISO text), the
# open installments it cancelled with their status then (``installments``: [[id, status]]),
# the line it froze and that line's status then. One row per write-off; ``reversed_at``
# once reversed (an account written off again gets a new row).
credit_write_offs = Table(
    "credit_write_offs",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("account_seq", BigInteger, nullable=False),
    Column("account_id", String(96), nullable=False),
    Column("written_off_on", Date, nullable=False),
    Column("state", JSONType, nullable=False),
    Column("installments", JSONType, nullable=False),
    Column("line_id", String(96), nullable=True),
    Column("line_status", String(12), nullable=True),
    Column("reversed_at", UtcDateTime, nullable=True),
    Column("reversed_by", String(64), nullable=True),
    Index("ix_credit_write_offs_account", "account_id", "written_off_on"),
)

# Day-end positions for reports of any past date (issue #16; credit.day_end): the accounts'
# rows hold only today's state, and a regulatory report or a provision run for an earlier
# business date needs each account's balances as they stood at the end of that date's close
# of business. The close of business writes one row per account in the transaction that
# marks the date done, so a date is "closed" exactly when its positions are stored. Rows are
# never updated. One row per account per business date (about 150 bytes): the retention of
# old dates is an operations decision (docs/regulatory-reports.md).
credit_day_end_positions = Table(
    "credit_day_end_positions",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("account_seq", BigInteger, primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # line | plan | loan
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("product_code", String(48), nullable=False),
    Column("product_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # active | closed | written_off
    Column("opened_on", Date, nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("bucket", String(8), nullable=False),
    Column("principal_minor", BigInteger, nullable=False),
    Column("interest_due_minor", BigInteger, nullable=False),
    Column("fee_due_minor", BigInteger, nullable=False),
    Column("penalty_due_minor", BigInteger, nullable=False),
    Column("accrued_minor", BigInteger, nullable=False),
    Column("written_off_minor", BigInteger, nullable=False),
    Column("recovered_minor", BigInteger, nullable=False),
    Column("written_off_on", Date, nullable=True),
    Column("interest_rate_micro", BigInteger, nullable=False),
    Column("line_id", String(64), nullable=True),
    Column("undrawn_minor", BigInteger, nullable=False),
    Column("last_due_date", Date, nullable=True),
)


# Product and caps versions activated through four-eyes (kinds product.change, caps.change;
# credit.catalogue_versions): the process's catalogue is the packaged YAML plus these rows.
# ``activation_seq`` is max + 1 in the activating transaction (unique), so it grows in commit
# order: a process compares max(activation_seq) with the one it built from to know it is
# stale (docs/console.md, "Product and cap changes").
credit_catalogue_versions = Table(
    "credit_catalogue_versions",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),  # product | caps
    Column("code", String(48), nullable=False),  # a product's code or a jurisdiction
    Column("version", Integer, nullable=False),
    Column("document", JSONType, nullable=False),
    Column("content_hash", String(64), nullable=False),  # sha256 of the canonical JSON
    Column("status", String(8), nullable=False, server_default="active"),
    Column("activation_seq", BigInteger, nullable=False, unique=True),
    Column("proposed_by", String(64), nullable=False),
    Column("activated_at", UtcDateTime, nullable=False),
    Column("activated_by", String(64), nullable=False),
    UniqueConstraint("kind", "code", "version"),
    CheckConstraint("kind IN ('product', 'caps')", name="kind"),
    CheckConstraint("status IN ('active', 'retired')", name="status"),
)


# ----------------------------------------------------------------------------- partner funding
# (credit.funding, issue #17, docs/partner-lending.md). A loan (plan or cash loan) funded with
# partner lenders has a row in credit_funding_loans and one credit_funding_shares row per funder
# (the platform, funder_id 'platform', and each partner). Every flow passed to a partner is a
# credit_funding_flows row with its ledger posting; settlements net them per partner and day.
credit_funding_arrangements = Table(
    "credit_funding_arrangements",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("product_code", String(48), nullable=False),
    Column("product_version", Integer, nullable=False),
    Column("version", Integer, nullable=False),  # of this product version's arrangement
    Column("arrangement_type", String(12), nullable=False),  # own | joint | facilitation
    Column("partner_ids", JSONType, nullable=False),  # candidates; [] = every active partner
    Column("platform_share_bps", Integer, nullable=False),
    Column("guarantee_bps", Integer, nullable=False),  # first-loss cover, of funded principal
    Column("fallback", String(8), nullable=False),  # own | decline
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("arrangement_type IN ('own', 'joint', 'facilitation')",
                    name="arrangement_type"),
    CheckConstraint("fallback IN ('own', 'decline')", name="fallback"),
    CheckConstraint("platform_share_bps BETWEEN 0 AND 10000"
                    " AND guarantee_bps BETWEEN 0 AND 10000", name="bps"),
    UniqueConstraint("product_code", "product_version", "version"),
)

credit_funding_loans = Table(
    "credit_funding_loans",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("product_code", String(48), nullable=False),
    Column("product_version", Integer, nullable=False),
    Column("arrangement_id", BigInteger, nullable=True),
    Column("arrangement_type", String(12), nullable=False),
    Column("principal_minor", BigInteger, nullable=False),
    Column("platform_minor", BigInteger, nullable=False),  # the platform's funded part
    Column("opened_on", Date, nullable=False),
    # The funders' positions just before a write-off (to reverse it exactly), or NULL.
    Column("write_off_snapshot", JSONType, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_credit_funding_loans_customer", "customer_id", "currency"),
)

credit_funding_shares = Table(
    "credit_funding_shares",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("funder_id", String(32), primary_key=True),  # 'platform' or a partner id
    Column("customer_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("terms_version", Integer, nullable=True),  # the partner's terms that priced it
    Column("share_bps", Integer, nullable=False),  # of the principal at origination
    Column("rate_bps", Integer, nullable=False),  # the partner's funding rate
    Column("guarantee_bps", Integer, nullable=False),
    Column("funded_minor", BigInteger, nullable=False),
    Column("outstanding_minor", BigInteger, nullable=False),
    Column("accrual_num", BigInteger, nullable=False),
    Column("accrued_through", Date, nullable=True),
    Column("income_paid_minor", BigInteger, nullable=False),
    Column("written_off_minor", BigInteger, nullable=False),
    Column("guaranteed_minor", BigInteger, nullable=False),
    Column("loss_minor", BigInteger, nullable=False),
    Column("recovered_minor", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("outstanding_minor >= 0 AND funded_minor >= 0 AND loss_minor >= 0"
                    " AND income_paid_minor >= 0", name="non_negative"),
    Index("ix_credit_funding_shares_funder", "funder_id", "customer_id"),
)

credit_funding_positions = Table(
    "credit_funding_positions",
    metadata,
    Column("partner_id", String(32), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("outstanding_minor", BigInteger, nullable=False),  # locked to check the caps
    Column("funded_minor", BigInteger, nullable=False),  # lifetime
    Column("guarantee_cover_minor", BigInteger, nullable=False),  # lifetime cover granted
    Column("guarantee_paid_minor", BigInteger, nullable=False),
    Column("loans", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("outstanding_minor >= 0", name="outstanding_non_negative"),
)

credit_funding_flows = Table(
    "credit_funding_flows",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),
    Column("partner_id", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    # fund | principal | refund | withdrawal | charges | clawback | write_off | guarantee |
    # recovery | reversal
    Column("kind", String(12), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("business_date", Date, nullable=False),
    Column("source_transfer_seq", BigInteger, nullable=True),  # the credit posting it follows
    Column("transfer_id", String(128), nullable=True),  # the partner posting (NULL: none)
    Column("settlement_id", String(64), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_credit_funding_flows_partner", "partner_id", "settlement_id", "business_date"),
    Index("ix_credit_funding_flows_account", "account_id"),
)

credit_funding_decisions = Table(
    "credit_funding_decisions",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("reference", String(96), nullable=False),  # the capture or loan id
    Column("customer_id", String(64), nullable=False),
    Column("partner_id", String(32), nullable=False),
    Column("outcome", String(12), nullable=False),  # approved | declined | skipped
    Column("reasons", JSONType, nullable=False),
    Column("fields_shared", JSONType, nullable=False),  # names only, never values
    Column("consent_record_id", BigInteger, nullable=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    Index("ix_credit_funding_decisions_reference", "reference"),
    Index("ix_credit_funding_decisions_partner", "partner_id", "decided_at"),
)

credit_funding_settlements = Table(
    "credit_funding_settlements",
    metadata,
    Column("settlement_id", String(64), primary_key=True),
    Column("partner_id", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("funding_minor", BigInteger, nullable=False),  # owed by the partner
    Column("principal_minor", BigInteger, nullable=False),  # repaid, refunded, withdrawn
    Column("income_minor", BigInteger, nullable=False),  # charges less clawbacks
    Column("guarantee_minor", BigInteger, nullable=False),
    Column("recovery_minor", BigInteger, nullable=False),
    Column("reversal_minor", BigInteger, nullable=False),
    Column("net_minor", BigInteger, nullable=False),  # > 0: the platform pays the partner
    Column("flows", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("partner_id", "currency", "business_date"),
)

credit_funding_cursor = Table(
    "credit_funding_cursor",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),  # the last ledger transfer followed
    Column("updated_at", UtcDateTime(), nullable=False),
)

# The journal transfers of funded loans already split (their seq). On PostgreSQL a transfer
# can commit after one with a higher seq was read (seqs are drawn before commit), so the
# follower re-reads a window behind its cursor and skips what it did (credit.funding).
credit_funding_followed = Table(
    "credit_funding_followed",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
)
