"""factory_boy factories for the models the tests need."""

import factory
from django.contrib.gis.geos import Point
from rest_framework.authtoken.models import Token

from couriers.models import DEFAULT_CAPACITY, Courier, Vehicle
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
    class Meta:
        model = Shop

    name = factory.Sequence(lambda n: f"Shop {n}")
    default_pickup_address = "Alexanderplatz 1, Berlin"
    default_pickup_point = factory.LazyFunction(lambda: Point(13.4132, 52.5219, srid=4326))


class ShopUserFactory(UserFactory):
    shop = factory.SubFactory(ShopFactory)


class CourierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Courier

    user = factory.SubFactory(UserFactory)
    vehicle = Vehicle.BIKE
    capacity = factory.LazyAttribute(lambda courier: DEFAULT_CAPACITY[Vehicle(courier.vehicle)])
