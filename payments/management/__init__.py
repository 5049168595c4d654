"""Management commands of payments."""
