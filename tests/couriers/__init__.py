"""Tests of the couriers app."""
