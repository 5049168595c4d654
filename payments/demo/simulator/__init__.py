"""The demo city's simulator: shops, couriers and recipients as outside clients of the API.

It talks to the server only through the public REST API and WebSockets; the integrity
checks at the end (``demo.selectors``) are the only database reads.
"""

from payments.demo.simulator.run import simulate
from payments.demo.simulator.world import SimConfig, World

__all__ = ["SimConfig", "World", "simulate"]
