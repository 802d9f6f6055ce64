"""One-time codes cannot be guessed without limit: every wrong code is counted and the count
is committed even though the request is refused, concurrent guesses each count, a wrong
login code counts toward the account's lockout, and a password alone does not reset it.
On both stores, through the real app (and the mechanism, ``Tx.durable``, directly)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select, text

from creditpay.errors import ValidationError
from creditpay.parties.tables import step_up_challenges
from tests.api.helpers import PASSWORD


def _wrong(code: str, n: int = 0) -> str:
    """A six-digit code that is not ``code``."""
    guess = f"{(int(code) + 1 + n) % 1_000_000:06d}"
    assert guess != code
    return guess


def _new_device_login(api, phone: str, device: str) -> str:
    login = api.post("/v1/auth/login", {"identifier": phone, "password": PASSWORD,
                                        "device_id": device}, expect=200).json()
    assert login["status"] == "step_up_required"
    return login["challenge_id"]


def _challenge(api, challenge_id: str):
    with api.runtime.uow.connect() as conn:
        return conn.execute(select(step_up_challenges).where(
            step_up_challenges.c.id == challenge_id)).one()


def test_wrong_login_codes_are_counted_and_exhaust_the_challenge(api):
    api.customer("13820000001", device="phone-one")
    challenge = _new_device_login(api, "13820000001", "laptop-two")
    code = api.last_code(challenge)
    attempts_max = api.runtime.parties.policy.challenge_attempts_max
    for n in range(attempts_max):
        wrong = api.post("/v1/auth/login/verify", {"challenge_id": challenge,
                                                   "code": _wrong(code, n),
                                                   "device_id": "laptop-two"}, expect=401)
        assert wrong.json()["type"].endswith("/wrong-code")
        assert _challenge(api, challenge).attempts == n + 1
    assert _challenge(api, challenge).status == "failed"
    # The right code no longer opens it: the challenge is spent (and, the wrong codes being
    # failed logins, the account is locked for a while too).
    refused = api.post("/v1/auth/login/verify", {"challenge_id": challenge, "code": code,
                                                 "device_id": "laptop-two"})
    assert refused.status_code in (401, 429), refused.text
    assert "access_token" not in refused.json()


def test_wrong_login_codes_lock_the_account_across_challenges(api, clock):
    """New challenges do not buy new guesses: a wrong code is a failed login, and only a
    completed login (not a password alone) resets the count."""
    api.customer("13820000002", device="phone-one")
    failures_max = api.runtime.parties.policy.login_failures_max
    for n in range(failures_max):
        challenge = _new_device_login(api, "13820000002", "laptop-two")
        code = api.last_code(challenge)
        api.post("/v1/auth/login/verify", {"challenge_id": challenge, "code": _wrong(code, n),
                                           "device_id": "laptop-two"}, expect=401)
    # Locked: even the right password (from the trusted phone) waits.
    api.post("/v1/auth/login", {"identifier": "13820000002", "password": PASSWORD,
                                "device_id": "phone-one"}, expect=429)
    clock.advance(minutes=16)
    api.post("/v1/auth/login", {"identifier": "13820000002", "password": PASSWORD,
                                "device_id": "phone-one"}, expect=200)


def test_a_challenge_issued_before_a_lockout_cannot_be_used_during_it(api):
    api.customer("13820000003", device="phone-one")
    challenge = _new_device_login(api, "13820000003", "laptop-two")
    code = api.last_code(challenge)
    for _ in range(api.runtime.parties.policy.login_failures_max):
        api.post("/v1/auth/login", {"identifier": "13820000003", "password": "not-the-one!",
                                    "device_id": "phone-one"}, expect=401)
    api.post("/v1/auth/login/verify", {"challenge_id": challenge, "code": code,
                                       "device_id": "laptop-two"}, expect=429)


async def _guesses(app, challenge: str, codes: list[str]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await asyncio.gather(*[client.post(
            "/v1/auth/login/verify",
            json={"challenge_id": challenge, "code": guess, "device_id": "laptop-two"},
            headers={"Idempotency-Key": str(uuid.uuid4())}) for guess in codes])


def test_concurrent_guesses_each_count_and_never_exceed_the_bound(api):
    api.customer("13820000004", device="phone-one")
    challenge = _new_device_login(api, "13820000004", "laptop-two")
    code = api.last_code(challenge)
    attempts_max = api.runtime.parties.policy.challenge_attempts_max
    responses = asyncio.run(_guesses(api.app, challenge,
                                     [_wrong(code, n) for n in range(3 * attempts_max)]))
    assert {r.status_code for r in responses} <= {401, 429}, [r.text for r in responses]
    compared = [r for r in responses if r.json()["type"].endswith("/wrong-code")]
    # Each guess that was compared with the code was counted first: never more than the bound.
    assert len(compared) <= attempts_max
    row = _challenge(api, challenge)
    assert row.attempts == len(compared) and row.status == "failed"
    refused = api.post("/v1/auth/login/verify", {"challenge_id": challenge, "code": code,
                                                 "device_id": "laptop-two"})
    assert refused.status_code in (401, 429)


def test_a_wrong_code_counts_even_when_the_use_case_rolls_back(api):
    """Whoever calls ``check_challenge`` and however its transaction ends (here a plain
    error, not a committed refusal), the wrong code stays counted."""
    rt = api.runtime
    api.customer("13820000005", device="phone-one")
    challenge = _new_device_login(api, "13820000005", "laptop-two")
    code = api.last_code(challenge)
    reference = _challenge(api, challenge).reference

    def use_case(tx):
        assert rt.parties.check_challenge(tx, challenge, _wrong(code), purpose="login",
                                          reference=reference) is None
        raise ValidationError("something else went wrong", field="other")

    with pytest.raises(ValidationError):
        rt.uow.run(use_case)
    assert _challenge(api, challenge).attempts == 1


def test_durable_effects_apply_once_whether_the_transaction_commits_or_not(uow):
    def bump(tx):
        tx.conn.execute(text("UPDATE outbox_events SET topic = topic WHERE 1 = 0"))
        tx.emit("test.durable", "test", "x", {})

    uow.run(lambda tx: tx.durable(bump))

    def fails(tx):
        tx.durable(bump)
        raise ValidationError("refused", field="x")

    with pytest.raises(ValidationError):
        uow.run(fails)
    with uow.connect() as conn:
        topics = conn.execute(text("SELECT topic FROM outbox_events")).scalars().all()
    assert topics == ["test.durable", "test.durable"]
