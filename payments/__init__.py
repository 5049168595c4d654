"""Payments: the double-entry ledger, the Stripe gateway, charges, payouts and disputes."""
