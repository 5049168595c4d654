"""The demo app's configuration (it sits above every other app and nothing imports it)."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo city"
