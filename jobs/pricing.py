"""Pure price arithmetic: a zone's fees, factors and surge turned into integer minor units.

Rounding: every component is rounded once, to a whole minor unit, half away from zero
(``ROUND_HALF_UP``); the total is the sum of the rounded components and the courier's
payout is the total minus the rounded platform fee, so

    base + distance + size + surge == total   and   courier_payout + platform_fee == total

hold exactly, with no cent lost or invented.

The price, step by step (all multipliers are the zone's decimal strings):

1. ``vehicle`` = the smallest vehicle class whose capacity takes the package
   (small: bike, medium: scooter, large: car, xl: van); ``vf`` = its vehicle factor.
2. ``base = round(base_fee * vf)``, ``distance = round(distance_m / 1000 * per_km * vf)``.
3. ``size = round((base + distance) * (size_factor - 1))``.
4. The zone minimum tops up ``base`` until ``base + distance + size >= minimum``.
5. ``surge = round((base + distance + size) * (surge_multiplier - 1))``.
6. ``platform_fee = round(total * platform_fee_percent / 100)``, payout = the rest.

Surge: ``multiplier = min(surge_cap, max(1, open_jobs / max(available_couriers, 1)))``,
rounded half up to two decimals, where ``open_jobs`` counts pending and unassigned jobs
whose pickup is within ``SURGE_RADIUS_M`` of this pickup, and ``available_couriers``
counts matchable couriers (available, trusted and fresh position) within the same radius.
No surge while supply covers demand; it grows with the backlog per courier, up to the cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from couriers.models import CAPACITY_RANK, DEFAULT_CAPACITY, Capacity, Vehicle

_CENT = Decimal("0.01")


def round_minor(amount: Decimal) -> int:
    """A Decimal amount of minor units as a whole number, half away from zero."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def smallest_vehicle_for(package_size: str) -> Vehicle:
    """The smallest vehicle class whose default capacity takes ``package_size``."""
    needed = CAPACITY_RANK[Capacity(package_size)]
    fitting = [v for v, cap in DEFAULT_CAPACITY.items() if CAPACITY_RANK[cap] >= needed]
    return min(fitting, key=lambda v: CAPACITY_RANK[DEFAULT_CAPACITY[v]])


def surge_multiplier(*, open_jobs: int, available_couriers: int, cap: Decimal) -> Decimal:
    """Demand over supply near the pickup, between 1 and ``cap`` (two decimals)."""
    ratio = Decimal(open_jobs) / Decimal(max(available_couriers, 1))
    return min(Decimal(cap), max(Decimal(1), ratio)).quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class PriceBreakdown:
    currency: str
    vehicle: Vehicle
    base_minor: int
    distance_fee_minor: int
    size_fee_minor: int
    surge_fee_minor: int
    total_minor: int
    courier_payout_minor: int
    platform_fee_minor: int
    surge_multiplier: Decimal

    def as_model_fields(self) -> dict[str, object]:
        """The PricedTrip columns this breakdown fills."""
        return {
            "currency": self.currency,
            "base_minor": self.base_minor,
            "distance_fee_minor": self.distance_fee_minor,
            "size_fee_minor": self.size_fee_minor,
            "surge_fee_minor": self.surge_fee_minor,
            "total_minor": self.total_minor,
            "courier_payout_minor": self.courier_payout_minor,
            "platform_fee_minor": self.platform_fee_minor,
            "surge_multiplier": self.surge_multiplier,
        }


def _factor(factors: dict[str, str], key: str) -> Decimal:
    # A zone edited without an entry for this key prices it at 1.
    return Decimal(str(factors.get(key, "1")))


def price_trip(
    *,
    currency: str,
    base_fee_minor: int,
    per_km_minor: int,
    minimum_fee_minor: int,
    size_factors: dict[str, str],
    vehicle_factors: dict[str, str],
    platform_fee_percent: Decimal,
    distance_m: int,
    package_size: str,
    surge: Decimal,
) -> PriceBreakdown:
    """The price of one trip (see the module docstring for every step and rounding)."""
    vehicle = smallest_vehicle_for(package_size)
    vehicle_factor = _factor(vehicle_factors, vehicle.value)
    base = round_minor(Decimal(base_fee_minor) * vehicle_factor)
    distance = round_minor(Decimal(distance_m) / 1000 * Decimal(per_km_minor) * vehicle_factor)
    # A size factor below 1 would be a negative fee; sizes only ever add.
    size_factor = max(Decimal(1), _factor(size_factors, package_size))
    size = round_minor(Decimal(base + distance) * (size_factor - 1))
    shortfall = minimum_fee_minor - (base + distance + size)
    if shortfall > 0:
        base += shortfall
    before_surge = base + distance + size
    surge_fee = round_minor(Decimal(before_surge) * (surge - 1))
    total = before_surge + surge_fee
    platform_fee = round_minor(Decimal(total) * Decimal(platform_fee_percent) / 100)
    return PriceBreakdown(
        currency=currency,
        vehicle=vehicle,
        base_minor=base,
        distance_fee_minor=distance,
        size_fee_minor=size,
        surge_fee_minor=surge_fee,
        total_minor=total,
        courier_payout_minor=total - platform_fee,
        platform_fee_minor=platform_fee,
        surge_multiplier=surge,
    )
