"""``seed_demo_city`` and ``simulate``."""
