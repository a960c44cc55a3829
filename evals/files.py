"""Reading the evals' own input files (benchmarks, the gold suite): a missing or unreadable file is one
line for the user, never a traceback."""

from __future__ import annotations

from pathlib import Path

from qa.errors import BadInput


def read_text(path: Path, what: str, error: type[BadInput] = BadInput) -> str:
    """`path`'s UTF-8 text; `what` names the file in the message ("benchmark file", "gold suite")."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path} is missing") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"cannot read {what} {path}: {getattr(err, 'strerror', None) or err}") from None
