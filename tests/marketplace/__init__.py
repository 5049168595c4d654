"""Tests of the project and its shared ground."""
