"""Disputes: opening, the courier's reply, staff actions that move money, chargebacks."""
