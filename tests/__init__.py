"""The test suite: real PostGIS, Redis, django-q2 workers and uvicorn; see CONTRIBUTING.md."""
