"""Verdicts as stored: their JSON encoding, the obligation rows and the month-by-month trend."""
