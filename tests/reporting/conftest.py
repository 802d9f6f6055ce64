"""Fixtures shared with the decision tests: the bureau-reporting test decides an application
after a month was reported (models trained once per session, policies active)."""

from tests.risk.decisions.conftest import model_dirs, risk_store

__all__ = ["model_dirs", "risk_store"]
