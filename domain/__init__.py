"""Entities, value rules, domain errors and repository interfaces. Standard library only."""
