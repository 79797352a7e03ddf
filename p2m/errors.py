"""User-facing errors.

A `P2MError` is a mistake the user can fix (bad input, unreachable server, unknown model). The CLI
prints its message on one line and exits non-zero; anything else is a bug and keeps its traceback.
"""


class P2MError(Exception):
    """An error whose message alone tells the user what went wrong and what to do."""


class BudgetExceeded(P2MError):
    """The teacher budget is spent; finished work is kept and the run can be resumed with more."""


class TeacherUnavailable(P2MError):
    """The teacher cannot be reached or keeps failing after retries."""
