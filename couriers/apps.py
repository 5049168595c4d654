"""App config for couriers."""

from django.apps import AppConfig


class CouriersConfig(AppConfig):
    name = "couriers"
    verbose_name = "Couriers"
