"""The one definition of truthy and falsy text, for every place that reads a yes/no from an API or a table.

A boolean column without `true_values` (sinks/mapping.py), a paginator's has-more flag
(sources/paginators/base.py) and an `is_true` rule of a fan-out or a record filter (rules.py) all read
text the same way: one of `TRUE_TEXTS` is true, one of `FALSE_TEXTS` is false, in any case and with
surrounding spaces ignored. Any other text is neither, and each reader says what that means for it: a
column refuses the value, a has-more flag stops the run, an `is_true: true` rule is not met.
"""

from __future__ import annotations

TRUE_TEXTS = frozenset({"true", "t", "yes", "y", "1", "on"})
FALSE_TEXTS = frozenset({"false", "f", "no", "n", "0", "off"})


def truth_of_text(text: str) -> bool | None:
    """True or False for a recognised word (`"Yes"`, `" on "`, `"0"`), None for any other text."""
    word = text.strip().lower()
    if word in TRUE_TEXTS:
        return True
    if word in FALSE_TEXTS:
        return False
    return None
