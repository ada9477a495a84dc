import re
import sys
import unicodedata
from typing import Annotated

import pytest
from pydantic import BaseModel, StringConstraints, ValidationError

from shared.i18n import Localized, LocalizedLine
from shared.text import MULTI_LINE, SINGLE_LINE, PlainText, SingleLineText

BREAKS = {"\t", "\n", "\r"}


def _refused_by(marker) -> set[str]:
    refused = set()
    for code_point in range(sys.maxunicode + 1):
        char = chr(code_point)
        try:
            marker.check(char)
        except ValueError:
            refused.add(char)
    return refused


def test_single_line_text_refuses_exactly_the_control_characters_and_surrogates():
    expected = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in {"Cc", "Cs"}}
    assert _refused_by(SINGLE_LINE) == expected
    assert {"\x00", "\x1b", "\x7f", "\x85", "\x9f", chr(0xD800), chr(0xDFFF), *BREAKS} <= expected


def test_plain_text_allows_line_breaks_and_tabs_but_no_other_control_character():
    assert _refused_by(MULTI_LINE) == _refused_by(SINGLE_LINE) - BREAKS


class Form(BaseModel):
    title: SingleLineText = "ok"
    body: PlainText = "ok"
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5), SINGLE_LINE] = "ok"
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9 ]+$"), SINGLE_LINE] = "1"
    titles: LocalizedLine = {}
    html: Localized = {}


@pytest.mark.parametrize(
    ("field", "value", "location"),
    [
        ("title", "a\x00b", ("title",)),
        ("title", "two\nlines", ("title",)),
        ("title", "\ud800", ("title",)),
        ("body", "bell\x07", ("body",)),
        ("body", "next line\x85", ("body",)),
        ("name", "A\x00da", ("name",)),
        ("titles", {"en": "About\x00"}, ("titles", "en")),
        ("html", {"en": "<p>\x00</p>"}, ("html", "en")),
    ],
)
def test_a_control_character_is_a_validation_error_naming_the_field(field, value, location):
    with pytest.raises(ValidationError) as caught:
        Form.model_validate({field: value})
    [error] = caught.value.errors()
    assert error["loc"] == location
    assert "must not contain control characters" in error["msg"]


def test_line_breaks_and_tabs_are_kept_in_plain_text():
    form = Form.model_validate({"body": "one\r\ntwo\tthree", "html": {"en": "<p>\n</p>"}})
    assert form.body == "one\r\ntwo\tthree" and form.html == {"en": "<p>\n</p>"}


def test_string_constraints_before_the_check_keep_their_meaning():
    assert Form.model_validate({"name": "  Ada  "}).name == "Ada"
    with pytest.raises(ValidationError) as caught:
        Form.model_validate({"name": "Ada Lovelace"})
    assert caught.value.errors()[0]["type"] == "string_too_long"
    with pytest.raises(ValidationError) as caught:
        Form.model_validate({"phone": "abc"})
    assert caught.value.errors()[0]["type"] == "string_pattern_mismatch"


def test_a_lone_surrogate_in_json_is_a_validation_error():
    with pytest.raises(ValidationError):
        Form.model_validate_json('{"title": "\\ud800"}')


def test_the_json_schema_states_the_rule_as_a_pattern_and_keeps_a_stricter_one():
    properties = Form.model_json_schema()["properties"]
    assert properties["title"]["pattern"] == SINGLE_LINE.pattern
    assert properties["body"]["pattern"] == MULTI_LINE.pattern
    assert properties["name"]["pattern"] == SINGLE_LINE.pattern and properties["name"]["maxLength"] == 5
    assert properties["phone"]["pattern"] == "^[0-9 ]+$"
    [title_values] = properties["titles"]["patternProperties"].values()
    [html_values] = properties["html"]["patternProperties"].values()
    assert title_values["pattern"] == SINGLE_LINE.pattern and html_values["pattern"] == MULTI_LINE.pattern


@pytest.mark.parametrize("marker", [SINGLE_LINE, MULTI_LINE])
def test_the_documented_pattern_agrees_with_the_check(marker):
    pattern = re.compile(marker.pattern)
    for code_point in [*range(0x00, 0xA1), 0x2028, 0xFEFF, 0x1F600]:
        char = chr(code_point)
        try:
            marker.check(char)
            accepted = True
        except ValueError:
            accepted = False
        assert bool(pattern.fullmatch(char)) is accepted, hex(code_point)


def test_the_text_is_checked_as_sent_before_any_stripping():
    for value in ("\tAda", "Ada\n", "Ada\u0085"):  # whitespace to str.strip, control characters all the same
        with pytest.raises(ValidationError):
            Form.model_validate({"name": value})
    with pytest.raises(ValidationError) as caught:
        Form.model_validate({"title": 42})
    assert caught.value.errors()[0]["type"] == "string_type"
