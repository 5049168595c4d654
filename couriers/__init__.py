"""Couriers: profiles, availability, live positions, matching and the courier socket."""
