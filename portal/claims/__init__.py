"""Claiming trials: matching, disputes, release and transfer."""
