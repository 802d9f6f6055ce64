"""Platform services every domain uses: the tamper-evident audit chain and its checkpoints,
the personal-data vault and its keys, masking, the log filter, purpose codes, input validators
and the outbound-address guard for webhooks. See docs/architecture.md and docs/security.md.

Nothing here knows a business domain. Submodules are imported explicitly
(``from creditpay.platform import audit``) so importing the package stays cheap.
"""
