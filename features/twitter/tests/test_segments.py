"""Weighted tweet length as X counts it, against X's published twitter-text conformance cases."""

import json
from pathlib import Path

import pytest

from features.twitter.segments import MAX_WEIGHTED_LENGTH, check_segments, segment_problems, weighted_length
from shared.errors import ValidationFailed

CONFORMANCE = json.loads((Path(__file__).parent / "data" / "x_validate_weighted.json").read_text(encoding="utf-8"))


def test_the_vendored_cases_name_their_source_and_cover_urls_cjk_and_emoji():
    assert CONFORMANCE["source"].startswith("https://github.com/twitter/twitter-text/")
    descriptions = " ".join(case["description"] for case in CONFORMANCE["cases"])
    assert "url" in descriptions and "CJK" in descriptions and "emoji" in descriptions
    assert len(CONFORMANCE["cases"]) >= 20


@pytest.mark.parametrize("case", CONFORMANCE["cases"], ids=lambda case: case["description"][:60])
def test_weighted_length_matches_x_conformance_case(case):
    assert weighted_length(case["text"]) == case["weightedLength"]
    refused = segment_problems([(case["text"], [])])
    assert (not refused) == case["valid"], refused


def test_urls_weigh_23_whatever_their_length():
    long_url = "https://example.com/" + "a" * 300
    assert weighted_length(long_url) == 23
    assert segment_problems([(f"read this {long_url}", [])]) == []


def test_cjk_and_emoji_weigh_two_so_141_of_them_are_too_many():
    assert weighted_length("の" * 140) == MAX_WEIGHTED_LENGTH
    assert segment_problems([("の" * 140, [])]) == []
    [problem] = segment_problems([("の" * 141, [])])
    assert "282" in problem.message
    assert weighted_length("👨‍👩‍👧‍👦") == 2  # one family emoji, seven code points


def test_a_bad_segment_is_named_by_its_index_and_field():
    segments = [("first tweet", []), ("x" * 281, []), ("third", ["m1", "m2", "m3", "m4", "m5"])]
    with pytest.raises(ValidationFailed) as caught:
        check_segments(segments)
    error = caught.value
    assert error.field == "segments.1.text"
    assert error.message.startswith("segment 1:") and "281" in error.message
    assert [detail["field"] for detail in error.details] == ["segments.1.text", "segments.2.media_ids"]


def test_four_images_pass_and_five_do_not():
    assert segment_problems([("four", ["a", "b", "c", "d"])]) == []
    [problem] = segment_problems([("five", ["a", "b", "c", "d", "e"])])
    assert problem.field == "segments.0.media_ids"


def test_empty_text_needs_an_image_and_no_segments_is_refused():
    assert segment_problems([("   ", [])])[0].field == "segments.0.text"
    assert segment_problems([("", ["m1"])]) == []
    assert segment_problems([])[0].field == "segments"


def test_a_character_x_refuses_is_named():
    [problem] = segment_problems([("bad \ufffe char", [])])
    assert "does not accept" in problem.message
