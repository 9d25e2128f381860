"""Invoice arithmetic for subscriptions: proration, tax and late fees.

All amounts are Decimal values in the invoice currency. Rounding happens once, at the end,
to whole cents with ROUND_HALF_UP, as our accountants require.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

DEFAULT_VAT_RATE = Decimal("0.21")
"""Dutch standard VAT, used when the customer's country has no entry in VAT_RATES."""

VAT_RATES = {"DE": Decimal("0.19"), "FR": Decimal("0.20"), "PT": Decimal("0.23")}

LATE_FEE_MONTHLY = Decimal("0.015")
"""Interest charged per started month on overdue amounts (1.5 percent)."""

GRACE_DAYS = 14
"""Days after the due date before late fees apply."""

CENT = Decimal("0.01")


@dataclass
class Line:
    description: str
    amount: Decimal


def prorate(monthly_price: Decimal, start: date, end: date, days_in_month: int) -> Decimal:
    """Charge for part of a month: the monthly price times used days over days in the month.
    Both `start` and `end` count as used days."""
    used = (end - start).days + 1
    return monthly_price * Decimal(used) / Decimal(days_in_month)


def vat_rate(country: str, reverse_charge: bool = False) -> Decimal:
    """The VAT rate for a customer. Business customers in other EU countries with a valid VAT
    number are reverse-charged: we invoice zero VAT and they account for it themselves."""
    if reverse_charge:
        return Decimal("0")
    return VAT_RATES.get(country, DEFAULT_VAT_RATE)


def late_fee(amount: Decimal, due: date, paid: date) -> Decimal:
    """Late fee for paying `amount` on `paid` when it was due on `due`; zero within the grace
    period. Each started month after the grace period adds LATE_FEE_MONTHLY."""
    days_late = (paid - due).days - GRACE_DAYS
    if days_late <= 0:
        return Decimal("0")
    months = -(-days_late // 30)
    return amount * LATE_FEE_MONTHLY * months


def total(lines: list[Line], country: str, reverse_charge: bool = False) -> Decimal:
    """Net plus VAT, rounded to cents."""
    net = sum((line.amount for line in lines), Decimal("0"))
    gross = net * (1 + vat_rate(country, reverse_charge))
    return gross.quantize(CENT, rounding=ROUND_HALF_UP)
