"""The platform's own profit and loss over a simulated run, and the portfolio ratios a risk
manager reads next to it (issue #18). The pure definitions live in
:mod:`creditpay.reporting.pnl` (below both this simulator and the console's dashboard, which
share them); this module keeps their names for the simulator's callers. The definitions are
in docs/simulator.md, "P&L".
"""

from __future__ import annotations

from creditpay.reporting.pnl import (
    BPS,
    DAYS_PER_YEAR,
    DPD30_MIN,
    FUNDING_RATE_BPS_DEFAULT,
    LGD_BPS_DEFAULT,
    PNL_PARTS,
    expected_loss_minor,
    funding_cost_minor,
    net_charge_off_rate,
    platform_pnl,
    share_of,
)

__all__ = ["BPS", "DAYS_PER_YEAR", "funding_cost_minor", "platform_pnl",
           "share_of", "net_charge_off_rate", "expected_loss_minor", "PNL_PARTS", "DPD30_MIN",
           "FUNDING_RATE_BPS_DEFAULT", "LGD_BPS_DEFAULT"]
