"""Reading a browser form post, so that every refusal of one is the page's own sentence: a body over the
request limit, a form that cannot be parsed, a field that is not UTF-8; and the API key a form carries."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from fastapi import Request
from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser

from qa.errors import BadInput
from qa.text import InvalidText
from server import deps
from server.errors import ApiError
from server.limits import BodyTooLarge
from server.runtime import Runtime


_LABELS = {"api_key": "the API key", "url": "the link", "published": "the date"}


class FormRefused(BadInput):
    """A form post that could not be read: too large (413) or malformed (400). `file`: whether the
    body held a chosen file, so the page can say "that file" rather than "that article"; `fields`: the
    text fields read before it stopped, to keep in the form."""

    def __init__(self, message: str, *, status: int = 400, file: bool = False, fields: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.file, self.fields = status, file, fields or {}
        self.code = "too_large" if status == 413 else "invalid_request"


def _utf8(data: bytes, field: str) -> str:
    """A field's bytes as text (our pages are UTF-8, so browsers send that); bytes that are not UTF-8
    are refused, never read as Latin-1 or made U+FFFD."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(f"{_LABELS.get(field, field)} is not valid UTF-8 (invalid byte 0x{data[exc.start]:02X} "
                          f"at byte {exc.start + 1}); send the form as UTF-8", field) from exc  # fmt: skip


class _Multipart(MultiPartParser):
    """Starlette's multipart parser, but a field that is not valid text is refused (Starlette reads it
    as Latin-1), and whether a named file had begun is kept."""

    file = False

    def read(self) -> dict[str, str]:
        return {k: v for k, v in self.items if isinstance(v, str)}

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        upload = self._current_part.file
        self.file = self.file or bool(upload is not None and upload.filename)

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            self.items.append((part.field_name, _utf8(bytes(part.data), part.field_name)))
        else:
            super().on_part_end()


class _Urlencoded(FormParser):
    """Starlette's urlencoded parser, but %-escapes that are not UTF-8 are refused (Starlette makes
    them U+FFFD)."""

    file = False

    def read(self) -> dict[str, str]:
        return dict(self._items)

    def on_field_end(self) -> None:
        raw = bytes(self._field_value)
        super().on_field_end()
        name = self._items[-1][0]
        self._items[-1] = (name, _utf8(unquote_to_bytes(raw.replace(b"+", b" ")), name))


async def read_form(request: Request, rt: Runtime, *, max_files: int, max_fields: int) -> FormData:
    """A browser form post's fields (and its file), or FormRefused / InvalidText: a page answers those
    in its own words, never with the API's JSON. A field may be as large as the request (pasted text
    up to the article limit): the body limit is what bounds memory."""
    kind = deps.media_type(request)
    options = {"max_fields": max_fields, "max_part_size": rt.settings.server.max_body_bytes}
    if kind == "multipart/form-data":
        parser: _Multipart | _Urlencoded = _Multipart(request.headers, request.stream(), max_files=max_files, **options)
    elif kind == "application/x-www-form-urlencoded":
        parser = _Urlencoded(request.headers, request.stream(), **options)
    else:
        return FormData()
    try:
        return await parser.parse()
    except BodyTooLarge as exc:
        raise FormRefused(exc.detail, status=413, file=parser.file, fields=parser.read()) from exc
    except MultiPartException as exc:
        message = f"the form could not be read ({exc.message.rstrip('.').replace('. ', '; ').lower()})"
        raise FormRefused(message, file=parser.file, fields=parser.read()) from exc




def form_key(form, request: Request) -> str | None:
    """The key typed into a form (a plain form cannot send a header), else one sent in the headers."""
    return str(form.get("api_key") or "") or deps.presented_key(request)


def check_key(key: str | None, rt: Runtime, *, needed: bool = True) -> None:
    """Forms' twin of deps.require_write / require_read (which read only headers)."""
    if needed and not deps.key_matches(key, rt.settings):  # no key configured: always matches
        raise ApiError(401, "a valid API key is required")
