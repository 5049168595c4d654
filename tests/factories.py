"""factory_boy factories for the models the tests need."""

import uuid
from datetime import timedelta

import factory
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.utils import timezone
from rest_framework.authtoken.models import Token

from couriers.models import DEFAULT_CAPACITY, Courier, Vehicle
from jobs.models import Job, JobStatus, Offer, ServiceZone, new_tracking_salt
from jobs.tracking.tokens import tracking_hash_for
from marketplace.models import Shop, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def token(user, create, extracted, **kwargs):
        if create:
            user.save()
            Token.objects.create(user=user)


class ShopFactory(factory.django.DjangoModelFactory):
    """A shop with a usable card (the stand-in's ``pm_card_visa``) unless
    ``payment_method=False``; pass another test card, e.g. ``"pm_card_chargeDeclined"``."""

    class Meta:
        model = Shop
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Shop {n}")
    default_pickup_address = "Alexanderplatz 1, Berlin"
    default_pickup_point = factory.LazyFunction(lambda: Point(13.4132, 52.5219, srid=4326))

    @factory.post_generation
    def payment_method(shop, create, extracted, **kwargs):
        if not create or extracted is False:
            return
        from payments.billing import shop_payment_method_set

        shop_payment_method_set(
            shop=shop, actor=None, payment_method_id=extracted or "pm_card_visa"
        )


class ShopUserFactory(UserFactory):
    shop = factory.SubFactory(ShopFactory)


class CourierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Courier

    user = factory.SubFactory(UserFactory)
    vehicle = Vehicle.BIKE
    capacity = factory.LazyAttribute(lambda courier: DEFAULT_CAPACITY[Vehicle(courier.vehicle)])


def berlin_zone_area() -> MultiPolygon:
    """A box around central Berlin (13.2 to 13.6 E, 52.4 to 52.65 N)."""
    return MultiPolygon(Polygon.from_bbox((13.2, 52.4, 13.6, 52.65)), srid=4326)


class ServiceZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceZone

    name = factory.Sequence(lambda n: f"Zone {n}")
    area = factory.LazyFunction(berlin_zone_area)


class JobFactory(factory.django.DjangoModelFactory):
    """A pending ASAP job across central Berlin; pass ``courier`` and ``status`` together."""

    class Meta:
        model = Job

    id = factory.LazyFunction(uuid.uuid4)
    tracking_salt = factory.LazyFunction(new_tracking_salt)
    tracking_token_hash = factory.LazyAttribute(
        lambda job: tracking_hash_for(job_pk=job.id, salt=job.tracking_salt)
    )
    shop = factory.SubFactory(ShopFactory)
    zone = factory.SubFactory(ServiceZoneFactory)
    status = JobStatus.PENDING
    pickup_address = "Alexanderplatz 1, Berlin"
    pickup_point = factory.LazyFunction(lambda: Point(13.4132, 52.5219, srid=4326))
    dropoff_address = "Potsdamer Platz 1, Berlin"
    dropoff_point = factory.LazyFunction(lambda: Point(13.3760, 52.5096, srid=4326))
    recipient_name = "Robin Recipient"
    recipient_phone = "+4930123456"
    package_size = "small"
    package_weight_g = 1200
    currency = "eur"
    distance_m = 2800
    base_minor = 300
    distance_fee_minor = 336
    size_fee_minor = 0
    surge_fee_minor = 0
    total_minor = 636
    courier_payout_minor = 509
    platform_fee_minor = 127


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer

    job = factory.SubFactory(JobFactory)
    courier = factory.SubFactory(CourierFactory)
    distance_m = 500
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(seconds=30))
