"""Plain text of request bodies: no control characters reach the database, a mail or a header.

`SingleLineText` (titles, names, topics) refuses every control character (Unicode category Cc:
U+0000-U+001F, U+007F-U+009F) and lone surrogates (which UTF-8, and so SQLite, cannot store);
`PlainText` (messages, notes, HTML) allows line breaks and tabs, nothing else of the kind.
A refusal is an ordinary validation error, so the API answers 422 VALIDATION_ERROR naming the field.

With constraints, put them first and the check last: `Annotated[str, StringConstraints(...), SINGLE_LINE]`.
Pydantic applies metadata in order, and string constraints (strip, length, pattern) only take
effect on a plain string, not on a string already wrapped in a validator. The check still sees
the text as sent, before any stripping: a trailing NEL or tab is refused, not silently trimmed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

CONTROL_CHARACTERS_MESSAGE = "must not contain control characters"

# Cc is exactly these two ranges; \ud800-\udfff are the surrogates, alone in a Python str
# only when JSON escaped one without its pair.
_CONTROLS = "\\x00-\\x1f\\x7f-\\x9f"
_CONTROLS_BUT_BREAKS = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
_SURROGATES = "\\ud800-\\udfff"


@dataclass(frozen=True)
class NoControlCharacters:
    """Pydantic metadata: refuses control characters (except `allow_breaks`: \\t \\n \\r) and lone surrogates."""

    allow_breaks: bool = False
    _refused: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        controls = _CONTROLS_BUT_BREAKS if self.allow_breaks else _CONTROLS
        object.__setattr__(self, "_refused", re.compile(f"[{controls}{_SURROGATES}]"))

    @property
    def pattern(self) -> str:
        """The same rule as a JSON Schema pattern, for the OpenAPI document (surrogates cannot be written there)."""
        return f"^[^{_CONTROLS_BUT_BREAKS if self.allow_breaks else _CONTROLS}]*$"

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # not text: the string schema refuses it with its own error
        found = self._refused.search(value)
        if found is not None:
            raise ValueError(f"{CONTROL_CHARACTERS_MESSAGE} (found U+{ord(found.group()):04X})")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self.pattern)  # a field's own, stricter pattern (a phone number) wins
        return json_schema


SINGLE_LINE = NoControlCharacters()
MULTI_LINE = NoControlCharacters(allow_breaks=True)

# One line of text: a title, a name, a topic.
SingleLineText = Annotated[str, SINGLE_LINE]
# Text of several lines: a message, notes, sanitized HTML.
PlainText = Annotated[str, MULTI_LINE]
