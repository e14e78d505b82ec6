"""Trials: what the portal knows about each trial and where each fact came from."""
