"""Schema-based fuzzing of /openapi.json (schemathesis, on SQLite): no 5xx, and every
response matches the documented status codes, content types and schemas.

Each generated request carries the credential its endpoint accepts (customer token,
merchant key with every scope, or an admin / compliance / risk operator token), so the
generator reaches the handlers instead of stopping at 401.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as C

from creditpay.clock import SimulatedClock
from creditpay.db.engine import make_engine
from creditpay.db.schema import migrate
from tests.api.helpers import Api, build_app

EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    from starlette.testclient import TestClient

    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    clock = SimulatedClock("2025-03-01T09:00:00+00:00")
    # Generous buckets: the fuzzer is one client sending hundreds of requests.
    app = build_app(f"sqlite:///{path}", clock, ip_bucket=(100_000, 10_000.0),
                    credential_bucket=(100_000, 10_000.0), login_bucket=(100_000, 10_000.0))
    api = Api(TestClient(app), app)
    admin = api.operator("admin")
    merchant = api.merchant(admin)["api_key"]["key"]
    customer = api.customer("13100000001")
    api.fund(customer, 1_000_000)
    tokens = {"customer": customer, "merchant": merchant, "admin": admin,
              "compliance_officer": api.operator("compliance_officer"),
              "risk_analyst": api.operator("risk_analyst"),
              # Logging out ends a session: the fuzzer does it with a login of its own.
              "logout": api.customer("13100000002")}
    # A partner lender's key with every scope, for the partner API (issue #17).
    partner = api.post("/v1/operator/partners", {
        "name": "Fuzz Bank", "licence_type": "bank", "licence_number": "L-FUZZ",
        "currency": "CNY", "terms": {"funding_rate_bps": 600, "service_fee_bps": 400,
                                     "exposure_cap_minor": 10_000_000,
                                     "per_borrower_cap_minor": 1_000_000}},
        admin, expect=201).json()["partner_id"]
    tokens["partner"] = api.post(f"/v1/operator/partners/{partner}/keys", {}, admin,
                                 expect=201).json()["key"]
    yield app, tokens
    api.client.close()
    app.state.runtime.close()


def _credential(path: str, method: str, tokens: dict[str, str]) -> str | None:
    if path == "/v1/auth/logout":
        return tokens["logout"]
    if path.startswith("/v1/operator/customers/") and path.endswith("personal_data"):
        return tokens["compliance_officer"]
    if "/review" in path or (path.startswith("/v1/operator/fraud_cases/")
                             and path.endswith("/resolve")):
        return tokens["risk_analyst"]
    if path.startswith("/v1/operator"):
        return tokens["admin"]
    if path.startswith("/v1/partner/"):
        return tokens["partner"]
    if path.startswith(("/v1/merchant", "/v1/settlements")) or (
            path.startswith("/v1/payment_intents") and method == "POST" and (
            path.endswith(("capture", "cancel", "refunds", "collect")) or
            path == "/v1/payment_intents")):
        return tokens["merchant"]
    if path.startswith(("/v1/customers", "/v1/auth/login", "/v1/auth/refresh", "/v1/rails",
                        "/v1/health")):
        return None
    return tokens["customer"]


def test_api_conforms_to_its_schema(fuzz_world):
    # schemathesis' pytest plugin does not support pytest 9 yet: drive its strategies with
    # Hypothesis directly, one run per operation.
    app, tokens = fuzz_world
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    sent = {"count": 0}
    statuses: dict[int, int] = {}
    failures = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            token = _credential(case.path, case.method.upper(), tokens)
            headers = dict(case.headers or {})
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            case.headers = headers
            sent["count"] += 1
            response = case.call_and_validate(checks=[C.not_a_server_error, C.status_code_conformance,
                                           C.content_type_conformance,
                                           C.response_schema_conformance])
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert sent["count"] >= 300
    # The fuzzer must reach handlers, not only validation and auth errors.
    assert sum(n for status, n in statuses.items() if status < 300) >= 50, statuses
    print(f"schemathesis: {sent['count']} requests, statuses {sorted(statuses.items())}")
