"""Tables owned by ``creditpay.parties``: customers, devices, cards, sessions, step-up
challenges, merchants, merchant API keys and operators.

Personal data (phone, email, legal name, ID number, date of birth) is stored only as vault
ciphertexts (``*_ct``), with a blind index (``*_bidx``) where it must be found by equality.
Secrets (passwords, API keys, refresh tokens, one-time codes) are stored only as hashes.
No card number is stored at all: the card rail tokenises it and we keep the token and last 4.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from creditpay.db.metadata import JSONType, UtcDateTime, metadata

__all__ = [
    "customers", "customer_devices", "customer_cards", "customer_sessions",
    "step_up_challenges", "customer_registrations", "merchants", "merchant_api_keys",
    "operators", "merchant_users", "partner_lenders", "partner_lender_terms",
    "partner_api_keys",
]

customers = Table(
    "customers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),  # active | closed
    Column("phone_ct", Text, nullable=True),
    Column("phone_bidx", String(32), nullable=True, unique=True),
    Column("email_ct", Text, nullable=True),
    Column("email_bidx", String(32), nullable=True, unique=True),
    Column("password_hash", String(255), nullable=False),  # argon2id, PHC string
    Column("kyc_status", String(16), nullable=False),  # unverified | verified
    Column("legal_name_ct", Text, nullable=True),
    Column("id_number_ct", Text, nullable=True),
    Column("id_number_bidx", String(32), nullable=True, unique=True),
    Column("date_of_birth_ct", Text, nullable=True),
    Column("kyc_verified_at", UtcDateTime(), nullable=True),
    Column("locale", String(16), nullable=False),
    # IANA zone the consumer lives in: fair-collections quiet hours are local time.
    Column("time_zone", String(64), nullable=False, default="Asia/Shanghai",
           server_default="Asia/Shanghai"),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("phone_bidx IS NOT NULL OR email_bidx IS NOT NULL", name="has_login"),
    CheckConstraint("kyc_status IN ('unverified', 'verified')", name="kyc_status"),
)

# A device is identified by the SHA-256 of the client's device id (the raw id is a bearer
# secret of the app install). Trusted devices skip the new-device step-up at login.
customer_devices = Table(
    "customer_devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), ForeignKey("customers.id"), nullable=False),
    Column("device_hash", String(64), nullable=False),
    Column("label", String(64), nullable=True),
    Column("trusted_at", UtcDateTime(), nullable=True),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("customer_id", "device_hash"),
)

customer_cards = Table(
    "customer_cards",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), ForeignKey("customers.id"), nullable=False),
    Column("rail_token", String(64), nullable=False, unique=True),
    Column("brand", String(16), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("expiry_month", Integer, nullable=False),
    Column("expiry_year", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # active | removed
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_customer_cards_customer", "customer_id"),
)

# Refresh tokens rotate on every use; a reused (already rotated) token revokes its family.
customer_sessions = Table(
    "customer_sessions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), ForeignKey("customers.id"), nullable=False),
    Column("device_id", String(32), ForeignKey("customer_devices.id"), nullable=False),
    Column("family_id", String(32), nullable=False),
    Column("refresh_hash", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),  # active | rotated | revoked
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_customer_sessions_family", "family_id"),
)

step_up_challenges = Table(
    "step_up_challenges",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("customer_id", String(32), ForeignKey("customers.id"), nullable=False),
    Column("purpose", String(32), nullable=False),  # login | payment
    Column("reference", String(128), nullable=False),  # what the code unlocks
    Column("code_hash", String(64), nullable=False),  # HMAC-SHA256 of the code
    Column("attempts", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False),  # pending | used | failed
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

# A registration waits here until the code sent to its phone or e-mail is entered; only then
# is the customer created (so the answer to "register" never tells whether the phone or
# e-mail is taken). ``kind`` 'taken': the phone or e-mail belongs to a customer already,
# who was told; its code was never sent, so it can never complete. Personal data and the
# password hash are cleared when the registration completes, fails or is purged.
customer_registrations = Table(
    "customer_registrations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("channel", String(8), nullable=False),  # sms | email: where the code went
    Column("phone_ct", Text, nullable=True),
    Column("phone_bidx", String(32), nullable=True),
    Column("email_ct", Text, nullable=True),
    Column("email_bidx", String(32), nullable=True),
    Column("password_hash", String(255), nullable=True),
    Column("device_hash", String(64), nullable=False),
    Column("locale", String(16), nullable=False),
    Column("code_hash", String(64), nullable=False),  # HMAC-SHA256 of the code
    Column("attempts", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False),
    Column("customer_id", String(32), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    CheckConstraint("kind IN ('new', 'taken')", name="kind"),
    CheckConstraint("channel IN ('sms', 'email')", name="channel"),
    CheckConstraint("status IN ('pending', 'completed', 'failed')", name="status"),
    Index("ix_customer_registrations_expires", "expires_at"),
)

merchants = Table(
    "merchants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("mcc", String(4), nullable=False),
    Column("status", String(16), nullable=False),  # active | suspended
    # Decimal as text: exact on both stores (SQLite has no exact NUMERIC).
    Column("discount_rate", String(16), nullable=False),
    Column("settlement_currency", String(3), nullable=False),
    Column("webhook_url", String(512), nullable=True),
    Column("webhook_secret_ct", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    # ISO 3166-1 alpha-2 (issue #21: a foreign merchant's country, for cross-border reports).
    Column("country", String(2), nullable=False, server_default="CN"),
    CheckConstraint("status IN ('active', 'suspended')", name="status"),
)

merchant_api_keys = Table(
    "merchant_api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("merchant_id", String(32), ForeignKey("merchants.id"), nullable=False),
    Column("prefix", String(24), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),  # SHA-256 of the 256-bit secret
    Column("scopes", String(255), nullable=False),  # space separated
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_merchant_api_keys_merchant", "merchant_id"),
)

operators = Table(
    "operators",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("prefix", String(24), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled_at", UtcDateTime(), nullable=True),
    # Staff login (password + TOTP). The password is an argon2id PHC string (None: the
    # operator has only the cpo_ machine token and cannot log in); the TOTP secret must be
    # read back to check codes, so it is a vault ciphertext (field operators.totp_secret),
    # never a hash; totp_last_step is the 30-second step of the last code accepted (a code
    # is good once). failed_logins / locked_until: the lockout, as for customers.
    Column("password_hash", String(255), nullable=True),
    Column("totp_secret_ct", Text, nullable=True),
    Column("totp_last_step", Integer, nullable=True),
    Column("failed_logins", Integer, nullable=False, default=0, server_default="0"),
    Column("locked_until", UtcDateTime(), nullable=True),
    CheckConstraint("role IN ('admin', 'risk_analyst', 'collections_agent',"
                    " 'compliance_officer', 'support')", name="role"),
)

# The people of a merchant who log in to the merchant dashboard (/merchant/): a password
# (argon2id PHC string) and a TOTP code, as operators log in to the console; the TOTP secret
# is a vault ciphertext (field merchant_users.totp_secret), totp_last_step the step of the
# last code accepted (a code is good once), failed_logins / locked_until the lockout. The
# role decides what the dashboard lets them do: an owner everything a merchant's API key
# with every scope may do, a viewer only reads (migration 0027).
merchant_users = Table(
    "merchant_users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("merchant_id", String(32), ForeignKey("merchants.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("totp_secret_ct", Text, nullable=False),
    Column("totp_last_step", Integer, nullable=True),
    Column("failed_logins", Integer, nullable=False, default=0, server_default="0"),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled_at", UtcDateTime(), nullable=True),
    CheckConstraint("role IN ('owner', 'viewer')", name="role"),
    Index("ix_merchant_users_merchant", "merchant_id"),
)


# Partner lenders (banks, consumer-finance companies) that fund all or part of the credit the
# platform originates (issue #17, docs/partner-lending.md). Their commercial terms (funding
# rate, service fee, limits, appetite) are versioned: ``partner_lender_terms`` keeps every
# version, ``terms_version`` names the one in force.
partner_lenders = Table(
    "partner_lenders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    # bank | consumer_finance | trust | microloan
    Column("licence_type", String(24), nullable=False),
    Column("licence_number", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    # onboarding | active | suspended | terminated
    Column("status", String(12), nullable=False),
    Column("terms_version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    CheckConstraint("licence_type IN ('bank', 'consumer_finance', 'trust', 'microloan')",
                    name="licence_type"),
    CheckConstraint("status IN ('onboarding', 'active', 'suspended', 'terminated')",
                    name="status"),
    UniqueConstraint("name"),
)

partner_lender_terms = Table(
    "partner_lender_terms",
    metadata,
    Column("partner_id", String(32), ForeignKey("partner_lenders.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("funding_rate_bps", Integer, nullable=False),
    Column("service_fee_bps", Integer, nullable=False),
    Column("exposure_cap_minor", BigInteger, nullable=False),
    Column("per_borrower_cap_minor", BigInteger, nullable=False),
    Column("terms", JSONType, nullable=False),  # appetite, data fields, decision policy
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    CheckConstraint("funding_rate_bps >= 0 AND service_fee_bps >= 0", name="rates"),
    CheckConstraint("exposure_cap_minor >= 0 AND per_borrower_cap_minor >= 0", name="caps"),
)

partner_api_keys = Table(
    "partner_api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("partner_id", String(32), ForeignKey("partner_lenders.id"), nullable=False),
    Column("prefix", String(24), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),  # SHA-256 of the 256-bit secret
    Column("scopes", String(255), nullable=False),  # space separated
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_partner_api_keys_partner", "partner_id"),
)
