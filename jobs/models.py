"""Job models (quotes, jobs, offers, events, proof) arrive with the jobs issue."""
