"""How figures are written for people and documents: percents of rates (and, as they move
here from the command-line modules, amounts). Pure functions, no I/O."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["percent_string", "disclosed_percent_string"]


def percent_string(rate: Decimal) -> str:
    """A rate fraction as a percent with exactly 4 decimals, rounded half-up."""
    return str((rate * 100).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))


def disclosed_percent_string(rate: Decimal) -> str:
    """A rate fraction as the *disclosed* annual percentage rate: rounded half-up to the
    hundredth of a percentage point, printed with 4 decimals ("9.6900").

    Why: Regulation Z's Appendix J states disclosed APRs to the hundredth of a percentage
    point (example (c)(1)(i): "9.69 %"; rounding to the hundredth stays far inside the 1/8
    point tolerance of 12 CFR 1026.22(a)(2)), and EU APRC examples are stated the same way;
    printing the solver's unrounded figure ("9.6857") would state a rate nobody discloses.
    4 decimals keep the shape of the other percents the CLI prints.
    """
    hundredths = (rate * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return str(hundredths.quantize(Decimal("0.0001")))
