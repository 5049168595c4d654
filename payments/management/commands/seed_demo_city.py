"""``manage.py seed_demo_city``: sandbox shops and robo couriers in the demo zone, with logins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketplace.api.errors import ApplicationError
from payments.demo.city import (
    DemoCityError,
    demo_admin_seed,
    demo_city_seed,
    demo_zone_get,
    zone_centre,
)
from payments.demo.plan import city_plan


class Command(BaseCommand):
    help = (
        "Build the demo city in the demo zone (or --zone): sandbox shops with a pickup point "
        "and a card on the Stripe stand-in, robo couriers with a vehicle, a home point and "
        "payouts enabled. The same --seed gives the same city; running it again changes "
        "nothing. Prints every login."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--couriers", type=int, default=50, help="robo couriers (50)")
        parser.add_argument("--shops", type=int, default=5, help="sandbox shops (5)")
        parser.add_argument("--seed", type=int, default=1, help="the city's random seed (1)")
        parser.add_argument("--zone", default=None, help="service zone name (the demo zone)")
        parser.add_argument(
            "--admin", action="store_true", help="also a superuser demo-admin for /admin/"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["shops"] < 1 or options["couriers"] < 0:
            raise CommandError("--shops must be at least 1 and --couriers at least 0.")
        try:
            zone = demo_zone_get(name=options["zone"])
            plan = city_plan(
                seed=options["seed"],
                shops=options["shops"],
                couriers=options["couriers"],
                centre=zone_centre(zone),
            )
            result = demo_city_seed(zone=zone, plan=plan)
            if options["admin"]:
                result.members.insert(0, demo_admin_seed())
        except (DemoCityError, ApplicationError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Demo city in {result.zone!r}: {len(plan.shops)} sandbox shops, "
            f"{len(plan.couriers)} robo couriers; {result.changed} created or completed now."
        )
        self.stdout.write(f"{'role':8} {'username':18} {'password':26} {'token':42} detail")
        for member in result.members:
            self.stdout.write(
                f"{member.role:8} {member.username:18} {member.password:26} "
                f"{member.token or '-':42} {member.detail}"
            )
