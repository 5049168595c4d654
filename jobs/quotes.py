"""Quotes: which zone serves a trip, how far it is, how busy the area is, and what it costs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone
from rest_framework import status

from couriers.selectors import (
    couriers_matchable_count,
    couriers_nearest_available,
    geography_literal,
)
from jobs.models import Job, JobStatus, Quote, ServiceZone
from jobs.pricing import PriceBreakdown, price_trip, surge_multiplier
from marketplace.api.errors import ApplicationError
from marketplace.eta import get_router
from marketplace.models import Shop

# A pickup_after this far in the past still counts as "now" (client clocks drift).
WINDOW_GRACE_SECONDS = 60


class OutsideServiceArea(ApplicationError):
    code = "outside_service_area"
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_message = "We do not serve this address."


class InvalidWindow(ApplicationError):
    """A time window in the past or back to front (HTTP 400, like any bad input)."""

    code = "validation_error"
    status_code = status.HTTP_400_BAD_REQUEST


@dataclass(frozen=True)
class Stop:
    address: str
    point: Point
    contact_name: str = ""
    contact_phone: str = ""
    instructions: str = ""


@dataclass(frozen=True)
class Package:
    size: str
    weight_g: int
    value_minor: int = 0
    description: str = ""


@dataclass(frozen=True)
class TripSpec:
    """What the shop asks us to carry: the input shared by quotes and full-spec posting."""

    pickup: Stop
    dropoff: Stop
    package: Package
    pickup_after: datetime | None = None
    deliver_before: datetime | None = None


@dataclass(frozen=True)
class PricedSpec:
    zone: ServiceZone
    distance_m: int
    price: PriceBreakdown

    def model_fields(self, trip: TripSpec) -> dict[str, Any]:
        """Keyword arguments for a Quote or Job (the PricedTrip columns)."""
        return {
            "pickup_address": trip.pickup.address,
            "pickup_point": trip.pickup.point,
            "pickup_contact_name": trip.pickup.contact_name,
            "pickup_contact_phone": trip.pickup.contact_phone,
            "pickup_instructions": trip.pickup.instructions,
            "dropoff_address": trip.dropoff.address,
            "dropoff_point": trip.dropoff.point,
            "dropoff_contact_name": trip.dropoff.contact_name,
            "dropoff_contact_phone": trip.dropoff.contact_phone,
            "dropoff_instructions": trip.dropoff.instructions,
            "package_size": trip.package.size,
            "package_weight_g": trip.package.weight_g,
            "package_value_minor": trip.package.value_minor,
            "package_description": trip.package.description,
            "pickup_after": trip.pickup_after,
            "deliver_before": trip.deliver_before,
            "zone": self.zone,
            "distance_m": self.distance_m,
            **self.price.as_model_fields(),
        }


def window_errors(
    *, pickup_after: datetime | None, deliver_before: datetime | None, now: datetime
) -> dict[str, list[str]]:
    """What is wrong with a delivery window, by field (empty when it is fine)."""
    errors: dict[str, list[str]] = {}
    if pickup_after is not None and pickup_after < now - timedelta(seconds=WINDOW_GRACE_SECONDS):
        errors["pickup_after"] = ["Must not be in the past."]
    if deliver_before is not None and deliver_before <= now:
        errors["deliver_before"] = ["Must be in the future."]
    if pickup_after is not None and deliver_before is not None and deliver_before <= pickup_after:
        errors.setdefault("deliver_before", []).append("Must be later than pickup_after.")
    return errors


def window_check(*, pickup_after: datetime | None, deliver_before: datetime | None) -> None:
    """Raise ``InvalidWindow`` for a past or inverted window."""
    errors = window_errors(
        pickup_after=pickup_after, deliver_before=deliver_before, now=timezone.now()
    )
    if errors:
        raise InvalidWindow("Invalid input. The delivery window is not possible.", fields=errors)


def deadline_check(
    *, pickup_after: datetime | None, deliver_before: datetime | None, trip_seconds: int
) -> None:
    """Raise ``InvalidWindow`` when ``deliver_before`` comes before the trip could end.

    The earliest delivery is the pickup (now, or ``pickup_after`` if later) plus the
    trip's estimated duration from pickup to dropoff.
    """
    if deliver_before is None:
        return
    now = timezone.now()
    start = max(now, pickup_after) if pickup_after is not None else now
    earliest = start + timedelta(seconds=trip_seconds)
    if deliver_before < earliest:
        minutes = max(1, round(trip_seconds / 60))
        raise InvalidWindow(
            "Invalid input. The delivery window is not possible.",
            fields={
                "deliver_before": [
                    f"Too early: the trip takes about {minutes} min, so the earliest "
                    f"delivery is {earliest.replace(microsecond=0).isoformat()}."
                ]
            },
        )


def trip_duration_seconds(*, trip: TripSpec, priced: PricedSpec) -> int:
    """Estimated seconds from pickup to dropoff for the vehicle the trip is priced for."""
    return get_router().eta_seconds(
        trip.pickup.point, trip.dropoff.point, vehicle=priced.price.vehicle
    )


def zone_for_point(point: Point) -> ServiceZone | None:
    """The first active zone (lowest id) whose area contains ``point`` or its border."""
    return ServiceZone.objects.filter(is_active=True, area__intersects=point).order_by("pk").first()


def zone_for_trip(*, pickup: Point, dropoff: Point) -> ServiceZone:
    """The pickup's zone, which prices the trip; both ends must lie in an active zone."""
    pickup_zone = zone_for_point(pickup)
    dropoff_zone = pickup_zone
    if pickup_zone is None or not pickup_zone.area.intersects(dropoff):
        dropoff_zone = zone_for_point(dropoff)
    outside = [
        name for name, zone in (("pickup", pickup_zone), ("dropoff", dropoff_zone)) if zone is None
    ]
    if outside:
        raise OutsideServiceArea(
            f"We do not serve the {' or the '.join(outside)} address.",
            fields={name: ["Outside every service zone."] for name in outside},
        )
    return pickup_zone


def geodesic_distance_m(a: Point, b: Point) -> int:
    """Metres between two points on the WGS 84 spheroid (PostGIS ST_Distance), rounded."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_Distance(%s::geography, %s::geography, true)",
            [geography_literal(a), geography_literal(b)],
        )
        return round(cursor.fetchone()[0])


def demand_and_supply(
    *, point: Point, radius_m: float, package_size: str, sandbox: bool
) -> tuple[int, int]:
    """Open jobs (pending, unassigned) and couriers who could carry the parcel, near ``point``.

    Supply is counted by the matching selector's own rule (status, fresh trusted position,
    a vehicle that takes ``package_size``, robo exactly for ``sandbox``), so surge sees the
    couriers dispatch would ask; demand counts the same side's jobs (sandbox or real).
    """
    open_jobs = Job.objects.filter(
        status__in=[JobStatus.PENDING, JobStatus.UNASSIGNED],
        pickup_point__dwithin=(point, radius_m),
        shop__is_sandbox=sandbox,
    ).count()
    couriers = couriers_matchable_count(
        point=point, radius_m=radius_m, package_size=package_size, sandbox=sandbox
    )
    return open_jobs, couriers


def trip_price(*, trip: TripSpec, sandbox: bool) -> PricedSpec:
    """Zone, geodesic distance and price (surge included) of a trip, as of now.

    ``sandbox``: priced for a sandbox shop, whose surge counts sandbox jobs and robo
    couriers only.
    """
    zone = zone_for_trip(pickup=trip.pickup.point, dropoff=trip.dropoff.point)
    distance_m = geodesic_distance_m(trip.pickup.point, trip.dropoff.point)
    open_jobs, couriers = demand_and_supply(
        point=trip.pickup.point,
        radius_m=settings.SURGE_RADIUS_M,
        package_size=trip.package.size,
        sandbox=sandbox,
    )
    surge = surge_multiplier(open_jobs=open_jobs, available_couriers=couriers, cap=zone.surge_cap)
    price = price_trip(
        currency=zone.currency,
        base_fee_minor=zone.base_fee_minor,
        per_km_minor=zone.per_km_minor,
        minimum_fee_minor=zone.minimum_fee_minor,
        size_factors=zone.size_factors,
        vehicle_factors=zone.vehicle_factors,
        platform_fee_percent=zone.platform_fee_percent,
        distance_m=distance_m,
        package_size=trip.package.size,
        surge=surge,
    )
    return PricedSpec(zone=zone, distance_m=distance_m, price=price)


def pickup_eta_seconds(*, point: Point, package_size: str, sandbox: bool) -> tuple[int, str]:
    """Seconds until a courier could reach ``point``, and where the number came from.

    ``("nearest_courier")``: the nearest matchable courier whose vehicle takes the package,
    within the widest dispatch radius, routed by the configured router. ``("default")``:
    nobody is near, so ``QUOTE_DEFAULT_PICKUP_ETA_SECONDS``.
    """
    nearest = couriers_nearest_available(
        point=point,
        radius_m=max(settings.DISPATCH_RADII_M),
        package_size=package_size,
        sandbox=sandbox,
        limit=1,
    )
    if not nearest:
        return settings.QUOTE_DEFAULT_PICKUP_ETA_SECONDS, "default"
    courier = nearest[0]
    eta = get_router().eta_seconds(courier.current_point, point, vehicle=courier.vehicle)
    return eta, "nearest_courier"


def quote_create(*, shop: Shop, trip: TripSpec) -> tuple[Quote, str]:
    """Price ``trip`` for ``shop`` and keep the quote for ``QUOTE_TTL_SECONDS``.

    Returns the quote and the source of its pickup ETA ("nearest_courier" or "default").
    Raises ``OutsideServiceArea`` (422) or ``InvalidWindow`` (400).
    """
    window_check(pickup_after=trip.pickup_after, deliver_before=trip.deliver_before)
    priced = trip_price(trip=trip, sandbox=shop.is_sandbox)
    pickup_eta, eta_source = pickup_eta_seconds(
        point=trip.pickup.point, package_size=trip.package.size, sandbox=shop.is_sandbox
    )
    trip_eta = trip_duration_seconds(trip=trip, priced=priced)
    deadline_check(
        pickup_after=trip.pickup_after, deliver_before=trip.deliver_before, trip_seconds=trip_eta
    )
    quote = Quote.objects.create(
        shop=shop,
        pickup_eta_s=pickup_eta,
        dropoff_eta_s=trip_eta,
        expires_at=timezone.now() + timedelta(seconds=settings.QUOTE_TTL_SECONDS),
        **priced.model_fields(trip),
    )
    return quote, eta_source
