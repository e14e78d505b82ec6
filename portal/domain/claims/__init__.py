"""Matching a sponsor's name against the names in registry records."""
