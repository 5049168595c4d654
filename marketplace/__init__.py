"""The Django project and the ground every app shares: settings, users, shops, the API."""
