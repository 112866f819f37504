"""Reading JSON request bodies: every way a body can fail to be JSON is the client's error, a 400."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

#: What decoding raises for a body that is not JSON it can read. Besides msgspec's DecodeError
#: (ValidationError is one: catch that first where it means something else): text that is not
#: UTF-8, and nesting deeper than the interpreter's recursion limit (about a thousand levels).
NOT_JSON = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def not_json(error: BaseException) -> str:
    """What is wrong with a body that raised one of NOT_JSON."""
    if isinstance(error, UnicodeDecodeError):
        return "not JSON: it is not UTF-8 text"
    if isinstance(error, RecursionError):
        return "not JSON this server reads: it is nested too deeply"
    return f"not JSON: {error}"


class JsonRequest(Request):
    """Litestar's request, whose own decoding of a JSON body (for a handler's `data`) turns
    only msgspec's DecodeError into a 400: here the other two ways a body is unreadable do too."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except (UnicodeDecodeError, RecursionError) as error:
            raise ValidationException(f"invalid body: {not_json(error)}") from error
