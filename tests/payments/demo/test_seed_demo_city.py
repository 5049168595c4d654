"""``seed_demo_city``: the same seed gives the same city, and seeding again changes nothing."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from couriers.models import Courier
from jobs.models import ServiceZone
from marketplace.models import Shop, User
from payments.models import CourierPayoutAccount, ShopBilling
from payments.standin import StandinServer
from tests.payments.helpers import standin_objects

pytestmark = pytest.mark.django_db


def seed(**options: Any) -> str:
    out = StringIO()
    call_command("seed_demo_city", stdout=out, **options)
    return out.getvalue()


def city() -> dict[str, Any]:
    """Everything the seed decides, without ids, keys or timestamps."""
    shops = [
        (
            shop.name,
            shop.is_sandbox,
            shop.default_pickup_address,
            (shop.default_pickup_point.y, shop.default_pickup_point.x),
            [user.username for user in shop.members.all()],
        )
        for shop in Shop.objects.order_by("name")
    ]
    couriers = [
        (
            courier.user.username,
            courier.user.first_name,
            courier.user.last_name,
            courier.vehicle,
            courier.capacity,
            courier.is_robo,
            courier.status,
            (courier.current_point.y, courier.current_point.x),
        )
        for courier in Courier.objects.select_related("user").order_by("user__username")
    ]
    return {"shops": shops, "couriers": couriers}


def forget_city(standin: StandinServer) -> None:
    CourierPayoutAccount.objects.all().delete()
    ShopBilling.objects.all().delete()
    Token.objects.all().delete()
    Courier.objects.all().delete()
    User.objects.all().delete()
    Shop.objects.all().delete()
    standin.reset()


def test_the_city_has_sandbox_shops_with_cards_and_robo_couriers_with_payouts(
    standin: StandinServer,
) -> None:
    output = seed(couriers=6, shops=2, seed=7)

    zone = ServiceZone.objects.get()
    assert zone.name == "Berlin (demo)"
    assert output.splitlines()[0] == (
        "Demo city in 'Berlin (demo)': 2 sandbox shops, 6 robo couriers; "
        "8 created or completed now."
    )
    usernames = sorted(User.objects.values_list("username", flat=True))
    assert usernames == ["demo-courier-001", "demo-courier-002", "demo-courier-003",
                         "demo-courier-004", "demo-courier-005", "demo-courier-006",
                         "demo-shop-01", "demo-shop-02"]  # fmt: skip
    assert sorted(Shop.objects.values_list("name", "is_sandbox")) == [
        ("Kiez Books", True),
        ("Spree Flowers", True),
    ]
    # Each card is attached to the shop's customer on the stand-in.
    attached = {pm["id"]: pm["customer"] for pm in standin_objects(standin, "payment_method")}
    for billing in ShopBilling.objects.all():
        assert attached[billing.payment_method_id] == billing.customer_id
        assert (billing.card_brand, billing.card_last4) == ("visa", "4242")
    assert ShopBilling.objects.count() == 2
    # Each courier is robo, offline at home inside the zone, with payouts enabled there too.
    accounts = {acct["id"]: acct for acct in standin_objects(standin, "account")}
    assert len(accounts) == 6
    for courier in Courier.objects.all():
        assert (courier.is_robo, courier.status, courier.is_position_trusted) == (
            True,
            "offline",
            False,
        )
        assert zone.area.contains(courier.current_point)
        account = CourierPayoutAccount.objects.get(courier=courier)
        assert account.payouts_enabled is True
        assert accounts[account.account_id]["payouts_enabled"] is True
    # Every login printed works: the token is the user's, the password checks.
    lines = [line.split() for line in output.splitlines()[2:]]
    assert [line[1] for line in lines] == [
        "demo-shop-01", "demo-shop-02", "demo-courier-001", "demo-courier-002",
        "demo-courier-003", "demo-courier-004", "demo-courier-005", "demo-courier-006",
    ]  # fmt: skip
    for role, username, password, token, *_ in lines:
        user = User.objects.get(username=username)
        assert user.check_password(password)
        assert Token.objects.get(user=user).key == token
        assert user.role == role


def test_the_same_seed_gives_the_same_city_and_another_seed_another(
    standin: StandinServer,
) -> None:
    seed(couriers=5, shops=3, seed=11)
    first = city()
    forget_city(standin)
    seed(couriers=5, shops=3, seed=11)
    assert city() == first

    forget_city(standin)
    seed(couriers=5, shops=3, seed=12)
    other = city()
    assert [shop[0] for shop in other["shops"]] == [shop[0] for shop in first["shops"]]
    assert [shop[3] for shop in other["shops"]] != [shop[3] for shop in first["shops"]]
    assert [c[7] for c in other["couriers"]] != [c[7] for c in first["couriers"]]


def test_a_bigger_city_keeps_the_smaller_one_as_it_was(standin: StandinServer) -> None:
    seed(couriers=3, shops=2, seed=5)
    small = city()
    seed(couriers=4, shops=2, seed=5)
    bigger = city()
    assert bigger["shops"] == small["shops"]
    assert bigger["couriers"][:3] == small["couriers"]
    assert len(bigger["couriers"]) == 4


def test_seeding_again_changes_nothing(standin: StandinServer) -> None:
    seed(couriers=4, shops=2, seed=3, admin=True)
    rows = {
        "users": list(User.objects.order_by("pk").values()),
        "shops": list(Shop.objects.order_by("pk").values()),
        "couriers": list(Courier.objects.order_by("pk").values()),
        "billing": list(ShopBilling.objects.order_by("pk").values()),
        "accounts": list(CourierPayoutAccount.objects.order_by("pk").values()),
        "tokens": list(Token.objects.order_by("pk").values()),
    }
    kinds = ["customer", "payment_method", "account", "event"]
    held = {kind: standin_objects(standin, kind) for kind in kinds}

    output = seed(couriers=4, shops=2, seed=3, admin=True)

    assert output.splitlines()[0].endswith("; 0 created or completed now.")
    assert rows == {
        "users": list(User.objects.order_by("pk").values()),
        "shops": list(Shop.objects.order_by("pk").values()),
        "couriers": list(Courier.objects.order_by("pk").values()),
        "billing": list(ShopBilling.objects.order_by("pk").values()),
        "accounts": list(CourierPayoutAccount.objects.order_by("pk").values()),
        "tokens": list(Token.objects.order_by("pk").values()),
    }
    assert {kind: standin_objects(standin, kind) for kind in kinds} == held
    admin = User.objects.get(username="demo-admin")
    assert (admin.is_staff, admin.is_superuser) == (True, True)


def test_a_restarted_standin_gets_new_cards_and_accounts(standin: StandinServer) -> None:
    seed(couriers=2, shops=1, seed=3)
    before = city()
    standin.reset()  # what a restart does: the stand-in keeps nothing

    output = seed(couriers=2, shops=1, seed=3)

    assert output.splitlines()[0].endswith("; 3 created or completed now.")
    assert city() == before
    billing = ShopBilling.objects.get()
    assert [c["id"] for c in standin_objects(standin, "customer")] == [billing.customer_id]
    accounts = {acct["id"]: acct for acct in standin_objects(standin, "account")}
    assert sorted(accounts) == sorted(
        CourierPayoutAccount.objects.values_list("account_id", flat=True)
    )
    assert all(acct["payouts_enabled"] for acct in accounts.values())


def test_an_unknown_zone_is_refused_and_nothing_is_made(standin: StandinServer) -> None:
    with pytest.raises(CommandError, match=r"^No service zone is named 'Atlantis'\.$"):
        seed(couriers=2, shops=1, zone="Atlantis")
    assert User.objects.count() == 0
    assert Shop.objects.count() == 0
