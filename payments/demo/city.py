"""Seeding the demo city: sandbox shops with cards and robo couriers with payout accounts.

Everything goes through the owning apps' services (sign-up, card attach, payout
onboarding), so the Stripe stand-in really holds each card and connected account. Members
are found by their deterministic usernames: seeding again creates nothing that exists,
and only completes what an interrupted run left half done. When the stand-in was
restarted (it keeps nothing on disk) and no longer knows a member's Stripe objects, the
member gets new ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from rest_framework.authtoken.models import Token

from couriers.models import Courier, Vehicle
from couriers.services import courier_register
from jobs.management.commands.seed_demo_zone import DEMO_ZONE_NAME, demo_zone_area
from jobs.models import ServiceZone
from marketplace.models import Shop, User
from marketplace.services import shop_register, token_obtain, user_create
from payments.billing import shop_payment_method_set
from payments.demo.plan import ADMIN_USERNAME, CityPlan, CourierPlan, ShopPlan, demo_password
from payments.gateway import GatewayError, get_gateway
from payments.models import CourierPayoutAccount, ShopBilling
from payments.payouts import courier_onboarding_link, payout_account_sync

DEMO_CARD = "pm_card_visa"
ONBOARDING_TIMEOUT_SECONDS = 10


class DemoCityError(Exception):
    """The demo city cannot be seeded here (no such zone, no stand-in, a point outside)."""


@dataclass
class Member:
    role: str
    username: str
    password: str
    token: str
    changed: bool  # created now, or completed (a card, a payout account)
    detail: str


@dataclass
class SeedResult:
    zone: str
    members: list[Member] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return sum(member.changed for member in self.members)


def demo_zone_get(*, name: str | None) -> ServiceZone:
    """The zone to build in: ``name``, or the demo zone (created as seed_demo_zone would)."""
    if name is not None:
        zone = ServiceZone.objects.filter(name=name).first()
        if zone is None:
            raise DemoCityError(f"No service zone is named {name!r}.")
        return zone
    zone, _ = ServiceZone.objects.get_or_create(
        name=DEMO_ZONE_NAME, defaults={"area": demo_zone_area()}
    )
    return zone


def zone_centre(zone: ServiceZone) -> tuple[float, float]:
    centroid = zone.area.centroid
    return centroid.y, centroid.x


def demo_city_seed(*, zone: ServiceZone, plan: CityPlan) -> SeedResult:
    """Create what ``plan`` names and is missing; return every member's login."""
    if not settings.STRIPE_STANDIN:
        raise DemoCityError(
            "The demo city pays on the Stripe test stand-in only (STRIPE_STANDIN=true, as "
            "./dev run and ./dev demo set up when STRIPE_SECRET_KEY is empty)."
        )
    for place, who in [(s.pickup, s.username) for s in plan.shops] + [
        (c.home, c.username) for c in plan.couriers
    ]:
        if not zone.area.contains(Point(place.lng, place.lat, srid=4326)):
            raise DemoCityError(f"{who}'s point {place} is outside the zone {zone.name!r}.")
    result = SeedResult(zone=zone.name)
    result.members += [_shop_seed(shop) for shop in plan.shops]
    result.members += [_courier_seed(courier) for courier in plan.couriers]
    return result


def demo_admin_seed() -> Member:
    """A superuser for the admin (``demo-admin``), created once."""
    password = demo_password(ADMIN_USERNAME, settings.SECRET_KEY)
    user = User.objects.filter(username__iexact=ADMIN_USERNAME).first()
    created = user is None
    if created:
        with transaction.atomic():
            user = user_create(username=ADMIN_USERNAME, password=password)
            User.objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    return Member("admin", ADMIN_USERNAME, password, "", created, "/admin/")


def _shop_seed(plan: ShopPlan) -> Member:
    password = demo_password(plan.username, settings.SECRET_KEY)
    user = User.objects.filter(username__iexact=plan.username).select_related("shop").first()
    created = user is None
    if created:
        with transaction.atomic():
            user, shop, _ = shop_register(
                username=plan.username,
                password=password,
                shop_name=plan.name,
                default_pickup_address=plan.pickup.address,
                default_pickup_point=Point(plan.pickup.lng, plan.pickup.lat, srid=4326),
            )
            Shop.objects.filter(pk=shop.pk).update(is_sandbox=True)
    shop = Shop.objects.get(pk=user.shop_id)
    billing = ShopBilling.objects.filter(shop=shop).first()
    if billing is not None and billing.payment_method_id and not _gateway_knows_shop(shop):
        billing.delete()  # the stand-in was restarted: its customer is gone
        billing = None
    if billing is None or not billing.payment_method_id:
        shop_payment_method_set(shop=shop, actor=user, payment_method_id=DEMO_CARD)
        created = True
    return Member("shop", plan.username, password, token_obtain(user=user).key, created, plan.name)


def _courier_seed(plan: CourierPlan) -> Member:
    password = demo_password(plan.username, settings.SECRET_KEY)
    user = User.objects.filter(username__iexact=plan.username).first()
    created = user is None
    if created:
        with transaction.atomic():
            user, courier, _ = courier_register(
                username=plan.username,
                password=password,
                vehicle=Vehicle(plan.vehicle),
                first_name=plan.first_name,
                last_name=plan.last_name,
            )
            # Home: where the courier is before going online (not trusted, so not matched).
            Courier.objects.filter(pk=courier.pk).update(
                is_robo=True,
                current_point=Point(plan.home.lng, plan.home.lat, srid=4326),
                is_position_trusted=False,
            )
    courier = Courier.objects.get(user=user)
    account = CourierPayoutAccount.objects.filter(courier=courier).first()
    if account is not None and not _gateway_knows_account(account.account_id):
        account.delete()  # the stand-in was restarted: its connected account is gone
        account = None
    if account is None or not account.payouts_enabled:
        _courier_onboard(courier)
        created = True
    token = Token.objects.filter(user=user).first() or token_obtain(user=user)
    return Member("courier", plan.username, password, token.key, created, courier.vehicle)


def _courier_onboard(courier: Courier) -> None:
    """Open a fresh onboarding link as the courier would: the stand-in completes it."""
    account, url = courier_onboarding_link(courier=courier)
    opened = requests.get(url, allow_redirects=False, timeout=ONBOARDING_TIMEOUT_SECONDS)
    if opened.status_code != 302:
        raise DemoCityError(f"Onboarding {courier.user.username} answered {opened.status_code}.")
    # Do not wait for the account.updated webhook: ask Stripe, as the webhook would tell.
    synced = payout_account_sync(
        result=get_gateway().account_retrieve(account_id=account.account_id)
    )
    if synced is None or not synced.payouts_enabled:
        raise DemoCityError(f"Payouts are not enabled for {courier.user.username}.")


def _gateway_knows_account(account_id: str) -> bool:
    try:
        get_gateway().account_retrieve(account_id=account_id)
    except GatewayError:
        return False
    return True


def _gateway_knows_shop(shop: Shop) -> bool:
    """Whether the stand-in still has the demo city's objects (it forgets them on restart).

    The gateway reads connected accounts but not customers, so the city's first courier
    account answers for the whole stand-in.
    """
    account = CourierPayoutAccount.objects.filter(courier__is_robo=True).order_by("pk").first()
    return account is None or _gateway_knows_account(account.account_id)
