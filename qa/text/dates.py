"""Publication dates: the day an article's `published` names, and how it is shown."""

from __future__ import annotations

import re

_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def published_date(value: str | None):
    """The day an article's `published` names (ISO 8601, as readers store it), or None."""
    import datetime as dt

    found = _ISO_DAY.match((value or "").strip())
    if not found:
        return None
    try:
        return dt.date(*map(int, found.groups()))
    except ValueError:
        return None


def date_label(value: str | None) -> str:
    """'26 Aug 2021' for the reader; a date written another way as it is; 'undated' without one."""
    day = published_date(value)
    if day is not None:
        return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
    return " ".join((value or "").split()) or "undated"


def period_words(period: str) -> str:
    """What the CLI and the page say when the question's own time chose the articles."""
    return f"searched articles dated {period} (and undated ones), as the question asks"
