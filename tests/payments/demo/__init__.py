"""Tests of the demo city: seeding, the simulator, ./dev demo."""
