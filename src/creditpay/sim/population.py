"""Who lives in the simulated economy: consumers and merchants, drawn from a seed.

Pure data, no I/O. A consumer carries what an application form would show (age, income,
employment), what only the simulation knows (``creditworthiness``: the latent probability of
paying a bill on time; a share of consumers never pay at all) and what drives spending
(purchase rate, typical amount, appetite for credit), plus devices, a home city and the
bureau file other lenders would report. Bureau files are correlated with the latent
creditworthiness, so the platform's risk model, which never sees it, can still rank people.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass
from typing import Any

__all__ = ["Consumer", "Merchant", "Population", "MERCHANT_CATEGORIES", "build_population",
           "resident_id"]

CITIES = ("Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Hangzhou", "Chengdu", "Wuhan",
          "Xi'an", "Nanjing", "Changsha", "Kunming", "Harbin")
EMPLOYMENT = (("salaried", 0.62), ("self_employed", 0.16), ("student", 0.10),
              ("retired", 0.07), ("unemployed", 0.05))
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class MerchantCategory:
    """A scenario of the handbook: how people pay there and how much."""

    name: str
    mcc: str
    intent_scenario: str  # the payments API's scenario
    discount_rate: str
    amount_log_mean: float  # ln of the typical amount in minor units
    amount_log_sd: float
    weight: float  # share of merchants
    refund_share: float


MERCHANT_CATEGORIES = (
    MerchantCategory("online", "5399", "online", "0.006", math.log(15_000), 0.9, 0.30, 0.05),
    MerchantCategory("offline_qr", "5411", "offline_qr", "0.0038", math.log(4_000), 0.8,
                     0.30, 0.01),
    MerchantCategory("travel", "4722", "online", "0.008", math.log(80_000), 0.6, 0.08, 0.06),
    MerchantCategory("education", "8299", "online", "0.006", math.log(150_000), 0.5, 0.06,
                     0.03),
    MerchantCategory("medical", "8062", "offline_qr", "0.002", math.log(30_000), 0.9, 0.08,
                     0.01),
    MerchantCategory("rental", "7394", "rental", "0.01", math.log(6_000), 0.7, 0.08, 0.02),
    MerchantCategory("social", "5969", "social", "0.006", math.log(8_000), 0.8, 0.10, 0.04),
)


@dataclass(frozen=True)
class Consumer:
    index: int
    age_years: int
    date_of_birth: dt.date
    gender: str
    city: str
    employment_type: str
    monthly_income_minor: int
    creditworthiness: float  # latent: chance a bill is paid on time (0 = never pays)
    purchases_per_day: float
    amount_scale: float  # multiplies the merchant's typical amount
    credit_appetite: float  # chance of choosing credit when it is offered
    installment_appetite: float  # given credit, chance of splitting a large purchase
    applies_for_credit: bool
    devices: tuple[str, ...]
    card_declines: bool  # a card the issuer declines (top-ups fail)
    bureau: dict[str, int]
    housing: str = "rent"  # rent | own | mortgage | family | other, declared when applying
    monthly_obligations_minor: int = 0  # declared: rent or mortgage + loan repayments

    @property
    def phone(self) -> str:
        return f"13{self.index:09d}"

    @property
    def resident_id(self) -> str:
        return resident_id(self.index, self.date_of_birth)

    @property
    def legal_name(self) -> str:
        return f"模拟用户{self.index}"


@dataclass(frozen=True)
class Merchant:
    index: int
    name: str
    category: MerchantCategory
    popularity: float


@dataclass(frozen=True)
class Population:
    consumers: tuple[Consumer, ...]
    merchants: tuple[Merchant, ...]


def resident_id(index: int, date_of_birth: dt.date) -> str:
    """A well-formed 18-character resident ID, unique per index (region code carries it)."""
    body = f"{110101 + index // 1000:06d}{date_of_birth:%Y%m%d}{index % 1000:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]
    return body + check


def _consumer(index: int, rng: random.Random, today: dt.date) -> Consumer:
    age = min(70, max(18, int(rng.gauss(34, 11))))
    born = (dt.date(today.year - age, today.month, min(today.day, 28))
            - dt.timedelta(days=rng.randrange(1, 360)))
    employment = rng.choices([e for e, _ in EMPLOYMENT], [w for _, w in EMPLOYMENT])[0]
    base = {"salaried": 9.0, "self_employed": 9.1, "student": 7.4, "retired": 8.3,
            "unemployed": 7.0}[employment]
    income = int(rng.lognormvariate(base, 0.45)) * 100
    # Latent quality: mostly good payers, a tail of strugglers, a few who never pay.
    roll = rng.random()
    if roll < 0.04:
        worth = 0.0
    elif roll < 0.16:
        worth = rng.uniform(0.2, 0.7)
    else:
        worth = rng.uniform(0.85, 1.0)
    income_factor = min(1.0, income / 1_500_000)
    worth = round(worth * (0.85 + 0.15 * income_factor), 4)
    risky = 1.0 - worth
    lenders = min(7, int(rng.expovariate(1.0 / (0.4 + 3.5 * risky))))
    debt = sum(int(rng.lognormvariate(9.0, 0.7)) * 100 for _ in range(lenders))
    bureau = {"debt_minor": debt, "monthly_repayment_minor": -(-debt // 12),
              "inquiries_6m": min(20, int(rng.expovariate(1.0 / (0.5 + 4 * risky)))),
              "lenders_in_use": lenders,
              "delinquencies_24m": sum(rng.random() < 0.05 + 0.5 * risky for _ in range(3))}
    devices = tuple(f"dev-{index:07d}-{k}" for k in range(1 + (rng.random() < 0.3)))
    return Consumer(
        index=index, age_years=age, date_of_birth=born, gender=rng.choice("FM"),
        city=rng.choice(CITIES), employment_type=employment, monthly_income_minor=income,
        creditworthiness=worth, purchases_per_day=round(rng.uniform(0.05, 0.35), 3),
        amount_scale=round(rng.lognormvariate(0, 0.3) * (0.6 + 0.8 * income_factor), 3),
        credit_appetite=round(min(0.9, rng.uniform(0.2, 0.6) + 0.3 * risky), 3),
        installment_appetite=round(rng.uniform(0.2, 0.8), 3),
        applies_for_credit=rng.random() < 0.85, devices=devices,
        card_declines=rng.random() < 0.02, bureau=bureau,
        **_housing(index, age, income, bureau["monthly_repayment_minor"]))


def _housing(index: int, age: int, income: int, repayment_minor: int) -> dict[str, Any]:
    """Housing and declared monthly obligations, from a stream of their own (so adding them
    left every other draw of the population unchanged)."""
    rng = random.Random(f"housing:{index}:{age}:{income}")
    weights = ((("family", 45), ("rent", 45), ("other", 10)) if age < 25 else
               (("rent", 35), ("mortgage", 30), ("own", 25), ("family", 5), ("other", 5)))
    housing = rng.choices([h for h, _ in weights], [w for _, w in weights])[0]
    share = {"rent": rng.uniform(0.15, 0.35), "mortgage": rng.uniform(0.2, 0.45)}.get(housing, 0.0)
    return {"housing": housing,
            "monthly_obligations_minor": int(income * share) // 100 * 100 + repayment_minor}


def build_population(customers: int, merchants: int, seed: int, today: dt.date
                     ) -> Population:
    """``customers`` consumers and ``merchants`` merchants, the same for the same seed."""
    rng = random.Random(f"population:{seed}")
    people = tuple(_consumer(i, rng, today) for i in range(customers))
    shops = []
    weights = [c.weight for c in MERCHANT_CATEGORIES]
    for m in range(merchants):
        # Every category exists once there are enough merchants; then by weight.
        category = (MERCHANT_CATEGORIES[m] if m < len(MERCHANT_CATEGORIES)
                    else rng.choices(MERCHANT_CATEGORIES, weights)[0])
        shops.append(Merchant(m, f"{category.name.replace('_', ' ').title()} shop {m}",
                              category, round(rng.paretovariate(1.5), 3)))
    return Population(people, tuple(shops))
