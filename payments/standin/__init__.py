"""A stateful loopback stand-in for the subset of the Stripe API the payments app uses.

It needs nothing but the standard library (no Django), so it runs in-process in tests
(``StandinServer(...).start()``) and beside ``./dev run`` (``manage.py stripe_standin``).
"""

from payments.standin.server import StandinServer

__all__ = ["StandinServer"]
