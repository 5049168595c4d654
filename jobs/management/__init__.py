"""Management commands of jobs."""
