"""The time a question names ("in 2021", "last year", "before March 2024") and whether it asks about
now ("currently", "latest"), read from its words against today's date."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_MONTH_NAMES = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTH_NAMES.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTH = r"(?:(?P<month>" + "|".join(sorted(_MONTH_NAMES, key=len, reverse=True)) + r")\.?\s+)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)\b"
# "in 2021" and "as of March 2024" name a time; "the 2021 attack" only names an event.
_IN = re.compile(rf"\b(?:in|during|throughout|as of|by the end of|at the end of)\s+(?:(?:early|late|mid)[- ]?)?{_MONTH}{_YEAR}", re.I)
_BEFORE = re.compile(rf"\b(?:before|until|till|prior to|up to)\s+{_MONTH}{_YEAR}", re.I)
_AFTER = re.compile(rf"\b(?P<word>after|since)\s+{_MONTH}{_YEAR}", re.I)
_RELATIVE = re.compile(r"\b(?P<which>last|this|past)\s+(?P<unit>year|month)\b", re.I)
_NOW = re.compile(
    r"\b(?:currently|current|now|nowadays|today|latest|most recent|newest|still|at the moment|at present|presently|"
    r"these days|so far|to date|as it stands)\b", re.I,
)  # fmt: skip


@dataclass(frozen=True)
class Period:
    """Days an article's date may fall in (either end open); `label` says it the way the answer does."""

    since: dt.date | None
    until: dt.date | None
    label: str

    def holds(self, day: dt.date) -> bool:
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)


@dataclass(frozen=True)
class AskedTime:
    period: Period | None = None
    now: bool = False  # asks how things stand now: the newest report first, whatever else
    span: tuple[int, int] = (0, 0)  # where the question names the period

    def without(self, question: str) -> str:
        """The question without the words naming its period, once the articles' dates stand for them: a
        2024 article answers "who was mayor in 2024?" without saying "2024"."""
        start, end = self.span
        if start == end:
            return question
        rest = question[:start].rstrip(" ,") + " " + question[end:].lstrip(" ,")
        return re.sub(r"\s+([?.!])", r"\1", " ".join(rest.split()))


def _span(year: int, month: int | None) -> tuple[dt.date, dt.date]:
    if month is None:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _named(m: re.Match) -> tuple[dt.date, dt.date, str]:
    month = _MONTH_NAMES[m["month"].lower()] if m["month"] else None
    year = int(m["year"])
    start, end = _span(year, month)
    return start, end, f"{calendar.month_name[month]} {year}" if month else str(year)


def asked_time(question: str, today: dt.date) -> AskedTime:
    now = bool(_NOW.search(question))
    if m := _IN.search(question):
        start, end, label = _named(m)
        return AskedTime(Period(start, end, label), now, m.span())
    if m := _BEFORE.search(question):
        start, _, label = _named(m)
        return AskedTime(Period(None, start - dt.timedelta(days=1), f"before {label}"), now, m.span())
    if m := _AFTER.search(question):
        start, end, label = _named(m)
        since = start if m["word"].lower() == "since" else end + dt.timedelta(days=1)
        return AskedTime(Period(since, None, f"{m['word'].lower()} {label}"), now, m.span())
    if m := _RELATIVE.search(question):
        which, unit = m["which"].lower(), m["unit"].lower()
        if which == "past":  # "the past year": the twelve months to today
            since = today - dt.timedelta(days=365 if unit == "year" else 30)
            return AskedTime(Period(since, today, f"the past {unit}"), now, m.span())
        if unit == "year":
            year = today.year - (which == "last")
            start, end = _span(year, None)
            return AskedTime(Period(start, end, str(year)), now or which == "this", m.span())
        first = today.replace(day=1)
        if which == "last":
            first = (first - dt.timedelta(days=1)).replace(day=1)
        start, end = _span(first.year, first.month)
        label = f"{calendar.month_name[first.month]} {first.year}"
        return AskedTime(Period(start, end, label), now or which == "this", m.span())
    return AskedTime(None, now)
