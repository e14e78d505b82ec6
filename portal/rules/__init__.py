"""The transparency duties of RULES.md as pure code: no Flask, no database, no clock.

    obligations = evaluate(Facts.from_dict(facts_dict, sources), as_of=date(2026, 11, 20))

`as_of` is always passed in; the same facts, date and parameters always give the same verdicts.
"""

from .conflicts import CONFLICT, WARNING, Conflict
from .engine import RULESETS, applicable_rulesets, evaluate, facts_to_check
from .facts import Facts, FactsError
from .model import STATUSES, Obligation
from .params import DEFAULT_PARAMS, Params, ParamsError

__all__ = [
    "CONFLICT",
    "DEFAULT_PARAMS",
    "WARNING",
    "Conflict",
    "RULESETS",
    "STATUSES",
    "Facts",
    "FactsError",
    "Obligation",
    "Params",
    "ParamsError",
    "applicable_rulesets",
    "evaluate",
    "facts_to_check",
]
