"""Compliance: personal-data protection (vault, blind indexes, masking, log filter) and the
tamper-evident audit log. See docs/security.md.

Submodules are imported explicitly (``from creditpay.compliance import audit``) so that
importing the package stays cheap and free of side effects.
"""

__all__ = ["audit", "keys", "vault", "masking", "logging_filter", "tables"]
