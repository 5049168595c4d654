"""The demo city's plan from a seed: shop and courier names, places and vehicles (no database).

Each shop and courier is drawn from its own random stream (``seed`` and its index), so a
bigger city keeps the smaller one's members as they were, and the same seed always
gives the same city. Points are spread around the zone's centre on a flat-earth
approximation, which is exact enough within a few kilometres.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
from dataclasses import dataclass

SHOP_USERNAME = "demo-shop-{:02d}"
COURIER_USERNAME = "demo-courier-{:03d}"
ADMIN_USERNAME = "demo-admin"
USERNAME_PREFIX = "demo-"

SHOP_NAMES = [
    "Kiez Books",
    "Spree Flowers",
    "Späti am Eck",
    "Mauerpark Records",
    "Tempelhof Bakery",
    "Kreuzberg Coffee Roasters",
    "Prenzlauer Pharmacy",
    "Neukölln Noodles",
    "Wedding Bikes",
    "Moabit Market",
]
STREETS = [
    "Oranienstraße",
    "Kastanienallee",
    "Bergmannstraße",
    "Torstraße",
    "Karl-Marx-Allee",
    "Sonnenallee",
    "Kantstraße",
    "Schönhauser Allee",
    "Warschauer Straße",
    "Skalitzer Straße",
    "Friedrichstraße",
    "Boxhagener Straße",
]
FIRST_NAMES = ["Alex", "Sam", "Kim", "Robin", "Charlie", "Jo", "Mika", "Luca", "Noa", "Ari"]
LAST_NAMES = ["Becker", "Schmidt", "Yilmaz", "Nowak", "Weber", "Rossi", "Kaya", "Fischer"]
# Cumulative shares of the couriers' vehicles.
VEHICLE_SHARES = [("bike", 0.40), ("scooter", 0.65), ("car", 0.90), ("van", 1.0)]

SHOP_RADIUS_M = 3500  # shops lie this close to the zone's centre
HOME_RADIUS_M = (150, 1200)  # couriers live this far from the shop they start near
_METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Place:
    lat: float
    lng: float
    address: str


@dataclass(frozen=True)
class ShopPlan:
    index: int
    username: str
    name: str
    pickup: Place


@dataclass(frozen=True)
class CourierPlan:
    index: int
    username: str
    first_name: str
    last_name: str
    vehicle: str
    home: Place


@dataclass(frozen=True)
class CityPlan:
    shops: list[ShopPlan]
    couriers: list[CourierPlan]


def offset(lat: float, lng: float, *, distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """The point ``distance_m`` from (lat, lng) towards ``bearing_deg`` (0 = north)."""
    bearing = math.radians(bearing_deg)
    dlat = distance_m * math.cos(bearing) / _METRES_PER_DEGREE
    dlng = distance_m * math.sin(bearing) / (_METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lng + dlng, 6)


def street_address(rng: random.Random) -> str:
    return f"{rng.choice(STREETS)} {rng.randint(1, 180)}, Berlin"


def _stream(seed: int, kind: str, index: int) -> random.Random:
    return random.Random(f"{seed}:{kind}:{index}")


def shop_plan(*, seed: int, index: int, centre: tuple[float, float]) -> ShopPlan:
    rng = _stream(seed, "shop", index)
    # Uniform over the disc: the square root spreads points evenly by area.
    distance = SHOP_RADIUS_M * math.sqrt(rng.random())
    lat, lng = offset(*centre, distance_m=distance, bearing_deg=rng.uniform(0, 360))
    base = SHOP_NAMES[index % len(SHOP_NAMES)]
    name = base if index < len(SHOP_NAMES) else f"{base} {index // len(SHOP_NAMES) + 1}"
    return ShopPlan(
        index=index,
        username=SHOP_USERNAME.format(index + 1),
        name=name,
        pickup=Place(lat=lat, lng=lng, address=street_address(rng)),
    )


def courier_plan(*, seed: int, index: int, shops: list[ShopPlan]) -> CourierPlan:
    rng = _stream(seed, "courier", index)
    near = shops[index % len(shops)].pickup
    lat, lng = offset(
        near.lat, near.lng, distance_m=rng.uniform(*HOME_RADIUS_M), bearing_deg=rng.uniform(0, 360)
    )
    draw = rng.random()
    vehicle = next(name for name, share in VEHICLE_SHARES if draw < share)
    return CourierPlan(
        index=index,
        username=COURIER_USERNAME.format(index + 1),
        first_name=rng.choice(FIRST_NAMES),
        last_name=rng.choice(LAST_NAMES),
        vehicle=vehicle,
        home=Place(lat=lat, lng=lng, address=street_address(rng)),
    )


def city_plan(*, seed: int, shops: int, couriers: int, centre: tuple[float, float]) -> CityPlan:
    """The whole city: ``shops`` shops around ``centre`` (lat, lng), couriers near them."""
    shop_plans = [shop_plan(seed=seed, index=i, centre=centre) for i in range(shops)]
    return CityPlan(
        shops=shop_plans,
        couriers=[courier_plan(seed=seed, index=i, shops=shop_plans) for i in range(couriers)],
    )


def demo_password(username: str, secret: str) -> str:
    """The seeded account's password: derived from the server's secret, never stored here."""
    digest = hmac.new(secret.encode(), f"demo-login:{username}".encode(), hashlib.sha256)
    return "demo-" + digest.hexdigest()[:20]
