"""Tests of disputes: services, money actions, chargebacks and the API."""
