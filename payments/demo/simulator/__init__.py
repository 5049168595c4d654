"""The demo city's simulator: shops, couriers and recipients as outside clients of the API.

It talks to the server only through the public REST API and WebSockets; the integrity
checks at the end (``demo.selectors``) are the only database reads.
"""

from demo.simulator.run import simulate
from demo.simulator.world import SimConfig, World

__all__ = ["SimConfig", "World", "simulate"]
