"""Scenario drivers: build and run a solution's objects, return plain data (see docs/AUTHORING.md)."""
