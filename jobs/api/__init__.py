"""The jobs REST API: one module per audience, routes in ``jobs.api.urls``."""
