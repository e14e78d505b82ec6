"""Notification preferences and one-click unsubscribe (issue 20)."""

from portal.notifications.views import bp

__all__ = ["bp"]
