"""The demo city: seeded sandbox shops and robo couriers, and a simulator that drives them."""
