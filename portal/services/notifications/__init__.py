"""Reminders and notifications: the daily job, events from other services, preferences.

How it works
------------
* Everything a person is to be told is one row of ``notifications`` with a ``key`` unique per
  person (``deadline:<trial>:<duty>:<milestone>:<due>``, ``event:...``, ``portfolio:<monday>``,
  ``queue:<day>``). Every writer inserts or skips (``ON CONFLICT DO NOTHING``), so however many
  runs or workers, a thing is recorded, and so sent, once.
* The daily job for day D (a London date) first records the deadline milestones that fell on
  the days since the last run (at most ``NOTIFY_CATCH_UP_DAYS``): 90, 30 and 7 days before the
  due date, on the day, and every 7 days while overdue (``NOTIFY_MILESTONES``); duties that became
  data needed; the Monday portfolio summary and the reviewer's queue. Missed days therefore give
  one catch-up digest, not one per day; of several milestones of one duty only the latest is kept.
* Then it sends each person with unsent rows one digest (``notification_digests`` is unique per
  person and day: two runners never both send), weekly people on Mondays. Rows about an
  organisation the person no longer belongs to, or a kind they turned off, are dropped unsent.
* Events (decisions, documents ready, invitations accepted, registry changes) are recorded by
  the service that made them, in its transaction, and go out in the next digest.
"""

from portal.services.notifications.common import (
    DEFAULT_MILESTONES,
    LONDON,
    ROLE_KINDS,
    Choice,
    kinds_for,
    london_now,
    london_today,
    milestones,
    preference_for,
    set_preferences,
    unsubscribe,
    wants,
)
from portal.services.notifications.daily import RunSummary, run_daily, should_run
from portal.services.notifications.events import (
    notify_organisation,
    notify_trial_changed,
    notify_users,
    organisation_members,
    trial_heading,
)

__all__ = [
    "DEFAULT_MILESTONES",
    "LONDON",
    "ROLE_KINDS",
    "Choice",
    "RunSummary",
    "kinds_for",
    "london_now",
    "london_today",
    "milestones",
    "notify_organisation",
    "notify_trial_changed",
    "notify_users",
    "organisation_members",
    "preference_for",
    "run_daily",
    "set_preferences",
    "should_run",
    "trial_heading",
    "unsubscribe",
    "wants",
]
