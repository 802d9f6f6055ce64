"""`creditpay demo` ends by naming a simulated consumer to open the apps with, and that login
works: the API served over the demo's database with its key file logs the consumer in (the
new device's code from the development inbox) and shows their own credit line."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from creditpay.cli import app

runner = CliRunner()


def test_the_demo_names_a_consumer_who_can_log_in(tmp_path):
    from starlette.testclient import TestClient

    from creditpay.api.app import create_app
    from creditpay.api.runtime import ApiConfig
    from creditpay.config import Settings
    from creditpay.platform.keys import LocalMasterKey
    from creditpay.sim.economy import master_key_bytes

    db = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--customers", "60", "--merchants", "5", "--days",
                                 "6", "--seed", "7", "--db", str(db), "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    found = re.search(r"/app/ and log in as a simulated consumer[^:]*: (\d+), password "
                      r"'([^']+)'", output)
    assert found, output[-800:]
    phone, password = found.groups()
    assert "/docs" in output and "app/dev/inbox" in output

    checkout = re.search(r"hosted checkout, open for the first 30 minutes of that server "
                         r"\(business time starts at 09:00 of ([0-9-]+)\): "
                         r"http://127\.0\.0\.1:8000(/app/checkout/\S+)", output)
    assert checkout, output[-800:]
    business_date, checkout_path = checkout.groups()
    assert "--business-date db" in output

    application = create_app(Settings.of(database_url=f"sqlite:///{db}", business_date="db"),
                             config=ApiConfig(master_key=LocalMasterKey(master_key_bytes(7)),
                                              dev_inbox=True, background_jobs=False))
    with TestClient(application) as client:
        def post(path, body, token=None):
            headers = {"Idempotency-Key": f"demo-login-{path.replace('/', '-')}"}
            if token:
                headers["Authorization"] = f"Bearer {token}"
            return client.post(path, json=body, headers=headers)

        login = post("/v1/auth/login", {"identifier": phone, "password": password,
                                        "device_id": "a-new-browser"})
        assert login.status_code == 200, login.text
        challenge = login.json()
        assert challenge["status"] == "step_up_required", challenge
        inbox = client.get("/v1/dev/inbox", params={"to": phone}).json()
        code = next(m["code"] for m in inbox["data"]
                    if m.get("challenge_id") == challenge["challenge_id"])
        verified = post("/v1/auth/login/verify", {"challenge_id": challenge["challenge_id"],
                                                  "code": code, "device_id": "a-new-browser"})
        assert verified.status_code == 200, verified.text
        token = verified.json()["access_token"]
        line = client.get("/v1/me/credit_line", headers={"Authorization": f"Bearer {token}"})
        assert line.status_code == 200, line.text
        assert line.json()["limit_minor"] > 0

        # Served at the demo's own business date: the day after its last close of
        # business, where the waiting purchase was made; its checkout page is open.
        assert application.state.runtime.clock.today().isoformat() == business_date
        page = client.get(checkout_path)
        assert page.status_code == 200, page.text[:500]
        assert "3,599.00" in page.text or "3599.00" in page.text, page.text[:2000]
