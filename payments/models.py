"""Ledger and payment models arrive with the payments issue."""
