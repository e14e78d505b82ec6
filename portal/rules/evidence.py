"""Evidence a reviewer has not accepted does not meet a duty (issue 16, "Evidence decisions reach
duties").

RULES.md: UK-PART is met when "the sponsor records evidence", and a granted deferral or waiver is
"confirmed by a reviewer". When a reviewer requests changes on the evidence that meets a duty, or
records "problem found" on the duty in an audit sample, the duty is not met until the evidence is
accepted again: the verdict is worked out as if nothing had been done, against the same due date
(RULES.md "Status words"), and says why in plain English.

Pure: the withheld duties and their reasons are given (``portal.services.evidence`` reads them
from the review records), with ``as_of`` and the parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from .model import DATA_NEEDED, DEFERRED, DUE_SOON, MET, MET_LATE, OVERDUE, UPCOMING, Obligation
from .params import Params

__all__ = ["withhold", "withhold_all"]

# The sentences settle() and the deferral path add for a duty that was done.
_DONE = re.compile(r"(?:Already met: )?Done on \d{1,2} [A-Z][a-z]+ \d{4}, [^.]*\.\s*")


def withhold(o: Obligation, reason: str, as_of: date, p: Params) -> Obligation:
    """``o`` as if the duty had not been done, when its evidence is withheld for ``reason``.

    Only a met (or met late) verdict changes: the duty is open again against its due date
    (overdue after it, deferred until a deferral's end, due soon or upcoming before it). A met
    verdict without a due date (an old rules trial already registered) needs the evidence again.
    """
    if o.status not in (MET, MET_LATE):
        return o
    text = _DONE.sub("", o.explanation).rstrip()
    if text and not text.endswith("."):
        text += "."
    note = f" This does not count as done: {reason}"
    if not note.endswith("."):
        note += "."
    due = o.due
    if due is None:
        text = f"{text}{note} Send the evidence again for review."
        missing = list(o.missing) + ["evidence accepted by a reviewer"]
        return o._replace(
            status=DATA_NEEDED, explanation=text, days_overdue=0, days_remaining=None,
            missing=missing, met_on=None,
        )  # fmt: skip
    n = (due - as_of).days
    over, left = 0, None
    if n < 0:
        status, over, tail = OVERDUE, -n, " Not done by the due date: overdue."
    else:
        left = n
        if o.deferred_until is not None:
            status, tail = DEFERRED, " Deferred: not done yet."
        elif n <= p.due_soon_days:
            status, tail = DUE_SOON, " Not done yet."
        else:
            status, tail = UPCOMING, " Not done yet."
    return o._replace(
        status=status,
        explanation=f"{text}{note}{tail}",
        days_overdue=over,
        days_remaining=left,
        met_on=None,
    )


def withhold_all(
    verdicts: list[Obligation], withheld: Mapping[str, str], as_of: date, p: Params
) -> list[Obligation]:
    """Every verdict, with those of the ``withheld`` duties (duty -> reason) opened again."""
    if not withheld:
        return verdicts
    return [withhold(o, withheld[o.id], as_of, p) if o.id in withheld else o for o in verdicts]
