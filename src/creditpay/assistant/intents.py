"""The assistant's intents (exact names, issue #20) and what each one is about.

``KEYWORDS`` are the words (both languages) added to a question's retrieval query for its
intent, so a Chinese question finds the English passages of the documents as well.
"""

from __future__ import annotations

__all__ = ["INTENTS", "ACTION_KINDS", "KEYWORDS", "UNSURE", "REFUSED"]

INTENTS: tuple[str, ...] = (
    "bill_amount", "due_date", "minimum_payment", "how_to_repay", "autopay", "credit_limit",
    "refund_status", "dispute_charge", "hardship", "report_fraud", "fx_charge",
    "installment_convert", "credit_score", "handoff_human", "out_of_scope",
)
ACTION_KINDS: tuple[str, ...] = ("repay", "switch_autopay", "freeze", "open_dispute",
                                 "request_hardship", "handoff_human")
UNSURE = "unsure"  # the classifier's confidence was below its threshold
REFUSED = "refused"  # the safety check refused the question

KEYWORDS: dict[str, str] = {
    "bill_amount": "statement closing balance opening balance new principal statement lines",
    "due_date": "due date due day statement day grace days late overdue",
    "minimum_payment": "minimum payment minimum_payment_rate revolving",
    "how_to_repay": "repayment allocation wallet prepayment paying off early",
    "autopay": "auto-debit auto_debit consent due day wallet",
    "credit_limit": "credit limit review increase decrease available",
    "refund_status": "refund refunded purchase installments reduced",
    "dispute_charge": "complaint fraud_dispute disputed payment",
    "hardship": "affordability over-indebtedness collections contact rules",
    "report_fraud": "fraud unauthorised step-up screening freeze",
    "fx_charge": "currency exchange rate mid rate markup quote abroad refund",
    "installment_convert": "bill installments conversion fee per period periods",
    "credit_score": "credit score bureau report record",
    "handoff_human": "complaint acknowledge resolve service quality",
    "out_of_scope": "",
}
