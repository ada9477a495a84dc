"""What X accepts in one tweet of a thread: its weighted length and its images, checked before anything is sent.

X does not count characters: it weighs them (twitter-text's configuration v3, the one X uses).
Most Latin, Cyrillic, Greek and punctuation code points weigh 1, everything else 2 (CJK, most
emoji; an emoji sequence such as a family counts as one emoji), every URL 23 whatever its length,
and 280 is the most a tweet may weigh. The `twitter-text-parser` package is a port of X's own
twitter-text library that passes its published conformance cases (features/twitter/tests/test_segments.py runs
them), so the count here is the count X applies; features/twitter/weighing.py computes the same count from
the same patterns in time linear in the text (the package's regexes take minutes on some inputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from features.twitter.weighing import weigh
from shared.errors import ValidationFailed

MAX_WEIGHTED_LENGTH = 280
MAX_IMAGES_PER_TWEET = 4  # or one GIF or one video; we post images only


@dataclass(frozen=True)
class SegmentProblem:
    index: int  # the segment's position in the thread, from 0
    field: str  # the request field it is about: segments.2.text
    message: str


def weighted_length(text: str) -> int:
    """The length X gives the text: URLs as 23, CJK and emoji as 2, the rest as 1."""
    return weigh(text).weighted_length


def text_problem(text: str, *, has_media: bool = False) -> str | None:
    """Why X would refuse this text as a tweet, or None."""
    if not text.strip():
        return None if has_media else "must not be empty (a tweet needs text or an image)"
    parsed = weigh(text)
    if parsed.weighted_length > MAX_WEIGHTED_LENGTH:
        return (
            f"weighs {parsed.weighted_length} characters as X counts them (URLs 23, CJK and emoji 2); "
            f"at most {MAX_WEIGHTED_LENGTH}"
        )
    if not parsed.valid:  # within the length, so a character X refuses (U+FFFE, U+FEFF, U+FFFF, ...)
        return "contains a character X does not accept"
    return None


def segment_problems(segments: Sequence[tuple[str, Sequence[Any]]]) -> list[SegmentProblem]:
    """Every problem of every segment (text, media ids), in order; empty when X would accept them all."""
    problems: list[SegmentProblem] = []
    if not segments:
        return [SegmentProblem(-1, "segments", "needs at least one segment")]
    for index, (text, media) in enumerate(segments):
        if (problem := text_problem(text, has_media=bool(media))) is not None:
            problems.append(SegmentProblem(index, f"segments.{index}.text", f"segment {index}: text {problem}"))
        if len(media) > MAX_IMAGES_PER_TWEET:
            problems.append(
                SegmentProblem(
                    index,
                    f"segments.{index}.media_ids",
                    f"segment {index}: {len(media)} images; X takes at most {MAX_IMAGES_PER_TWEET} per tweet",
                )
            )
    return problems


def check_segments(segments: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Raises 422 VALIDATION_ERROR naming the first bad segment's field, every problem in the details."""
    problems = segment_problems(segments)
    if problems:
        first = problems[0]
        raise ValidationFailed(
            first.message,
            field=first.field,
            details=[{"field": p.field, "message": p.message, "type": "x_segment"} for p in problems],
        )
