"""Fraud attacks in the simulated economy: the Fraud Detection Handbook's scenarios (Le Borgne
et al.) played against the platform's checkout. Pure planning from a seeded stream, no I/O.

* ``account_takeover`` (the handbook's "compromised customer"): an attacker holds a
  consumer's credentials for one to three days and pays from a device of their own, at
  online merchants, with amounts several times the victim's usual ones.
* ``compromised_terminal`` (the handbook's "compromised terminal"): an offline merchant's
  terminal is compromised for two weeks; a share of the consumers who pay there are charged
  again shortly after by the attacker.
* ``fraud_ring`` (a shock, ``--fraud-ring``): from the shock day a ring takes over many
  accounts at once for three days and cashes out through a handful of shared devices at a
  few colluding shops: the kind of spike early warning must see within days.

The economy carries the attempts out through the real checkout and learns what the platform
did with each (caught or lost); the consumers report what got through a few days later,
which is the label the fraud features learn from (with their label delay).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from creditpay.sim.population import Consumer, Merchant

__all__ = ["Attack", "FraudPlanner", "SCENARIOS", "ONLINE_CATEGORIES"]

SCENARIOS = ("account_takeover", "compromised_terminal", "fraud_ring")
ONLINE_CATEGORIES = frozenset({"online", "travel", "social"})
TAKEOVER_DAILY_PROBABILITY = 0.0015  # per consumer and day
TAKEOVER_DAYS_MAX = 3
TERMINAL_DAILY_PROBABILITY = 0.05  # per economy and day: one more compromised terminal
TERMINAL_DAYS = 14
TERMINAL_SHARE = 0.3  # of the consumers who pay there, charged again by the attacker
RING_DAYS = 3
RING_SHARE_PER_DAY = 0.04  # of all consumers taken over on each ring day
RING_DEVICES = 3
RING_SHOPS = 2
AMOUNT_MINOR_MAX = 2_000_000  # 20,000.00: attackers still stay within credit limits mostly


@dataclass(frozen=True)
class Attack:
    """One fraudulent payment attempt: on ``victim``'s account, from ``device_id``, at
    ``merchant``, for ``amount_minor``, at ``second_of_day`` (business time)."""

    scenario: str
    victim_index: int
    device_id: str
    merchant_index: int
    amount_minor: int
    second_of_day: int


@dataclass
class FraudPlanner:
    """Keeps who is taken over and which terminals are compromised; plans each day's
    attempts. ``seed`` fixes the attackers' device ids."""

    seed: int
    takeovers: dict[int, tuple[int, str]] = field(default_factory=dict)  # victim: (until, dev)
    terminals: dict[int, int] = field(default_factory=dict)  # merchant index: until day
    ring_from_day: int | None = None

    def start_ring(self, day: int) -> None:
        self.ring_from_day = day

    def _device(self, kind: str, n: int) -> str:
        return f"att-{kind}-{self.seed}-{n}"

    def plan_day(self, day: int, rng: random.Random, consumers: Sequence[Consumer],
                 merchants: Sequence[Merchant], window_s: tuple[int, int],
                 legit_at_merchant: dict[int, list[tuple[int, int]]]) -> list[Attack]:
        """Today's attempts. ``legit_at_merchant`` maps a merchant index to today's legit
        (consumer index, second of day) payments there (the terminal scenario follows them)."""
        start_s, end_s = window_s
        online = [m.index for m in merchants if m.category.name in ONLINE_CATEGORIES]
        offline = [m.index for m in merchants if m.category.intent_scenario == "offline_qr"]
        attacks: list[Attack] = []
        # New takeovers, then today's payments of every live one.
        for c in consumers:
            if c.index not in self.takeovers and rng.random() < TAKEOVER_DAILY_PROBABILITY:
                until = day + rng.randint(0, TAKEOVER_DAYS_MAX - 1)
                self.takeovers[c.index] = (until, self._device("ato", c.index * 1000 + day))
        for victim, (until, device) in sorted(self.takeovers.items()):
            if until < day:
                continue
            consumer = consumers[victim]
            for _ in range(rng.randint(1, 3)):
                if not online:
                    break
                attacks.append(Attack(
                    "account_takeover", victim, device, rng.choice(online),
                    _inflated(consumer, rng, 3.0, 6.0), rng.randint(start_s, end_s)))
        self.takeovers = {v: t for v, t in self.takeovers.items() if t[0] >= day}
        # Compromised terminals: new ones, then charges behind today's legit payments.
        if offline and rng.random() < TERMINAL_DAILY_PROBABILITY:
            self.terminals.setdefault(rng.choice(offline), day + TERMINAL_DAYS - 1)
        for merchant_index, until in sorted(self.terminals.items()):
            if until < day:
                continue
            device = self._device("term", merchant_index)
            for victim, second in legit_at_merchant.get(merchant_index, []):
                if rng.random() < TERMINAL_SHARE:
                    attacks.append(Attack(
                        "compromised_terminal", victim, device, merchant_index,
                        _inflated(consumers[victim], rng, 1.0, 3.0),
                        min(end_s, second + rng.randint(300, 7200))))
        self.terminals = {m: u for m, u in self.terminals.items() if u >= day}
        # The ring: many accounts at once, few devices, a couple of colluding shops.
        if self.ring_from_day is not None and 0 <= day - self.ring_from_day < RING_DAYS \
                and online:
            shops = online[:RING_SHOPS]
            count = max(3, int(len(consumers) * RING_SHARE_PER_DAY))
            for victim in rng.sample(range(len(consumers)), min(count, len(consumers))):
                for _ in range(rng.randint(1, 2)):
                    attacks.append(Attack(
                        "fraud_ring", victim, self._device("ring", rng.randrange(RING_DEVICES)),
                        rng.choice(shops), _inflated(consumers[victim], rng, 2.0, 5.0),
                        rng.randint(start_s, end_s)))
        return attacks


def _inflated(consumer: Consumer, rng: random.Random, low: float, high: float) -> int:
    """An attacker's amount: the victim's typical spend scaled up (minor units)."""
    typical = 15_000 * consumer.amount_scale
    return max(1_000, min(AMOUNT_MINOR_MAX, int(typical * rng.uniform(low, high)) // 100 * 100))
