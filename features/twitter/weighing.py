"""X's weighted length of a tweet, exactly as `twitter_text.parse_tweet` computes it, in time linear in the text.

`twitter-text-parser` is a faithful port of X's twitter-text, but its URL regexes take minutes on
some inputs (features/twitter/tweet_urls.py drives the same patterns in linear time) and its emoji
alternation costs about 25 µs per character. Emoji here are the longest listed sequence at a
position (the package's alternation is sorted longest first), found by set look-ups where one can
start; the weighing loop is the package's, with the runs between URLs and emoji summed at once.
features/twitter/tests/test_weighing.py compares both with the package on generated texts, and
test_segments.py runs X's conformance cases through them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from twitter_text.config import config
from twitter_text.has_invalid_characters import has_invalid_characters
from twitter_text.parse_tweet import convert_line_ending
from twitter_text.regexp import emoji as emoji_table

from features.twitter.tweet_urls import extract_urls_with_indices

OPTIONS = config["defaults"]  # configuration v3, the one X applies


# --- emoji ------------------------------------------------------------------------------------

_MULTI = emoji_table.multi_codepoint_emoji_joined
if not emoji_table.emoji.pattern.startswith(_MULTI + "|["):
    raise RuntimeError("twitter-text's emoji pattern changed shape; features/twitter/weighing.py needs a look")
_SINGLE_CLASS = emoji_table.emoji.pattern[len(_MULTI) + 1 :]
_SINGLE = re.compile(_SINGLE_CLASS)
_SEQUENCES = frozenset(
    "".join(chr(int(code, 16)) for code in re.findall(r"\\U([0-9a-fA-F]{8})", alternative))
    for alternative in _MULTI.split("|")
)
_FIRSTS = frozenset(sequence[0] for sequence in _SEQUENCES)
_SECONDS = frozenset(sequence[1] for sequence in _SEQUENCES)
_LENGTHS = sorted({len(sequence) for sequence in _SEQUENCES}, reverse=True)  # the library's order: longest first
_EMOJI_START = re.compile(
    _SINGLE_CLASS[:-1] + "".join(sorted({re.escape(s[0]) for s in _SEQUENCES})) + "]"
)


def extract_emojis_with_indices(text: str) -> list[dict[str, Any]]:
    """twitter_text.extract_emojis.extract_emojis_with_indices(text): the longest listed sequence at each
    position, else a single-code-point emoji."""
    found = []
    position = 0
    while (start := _EMOJI_START.search(text, position)) is not None:
        index = start.start()
        length = 0
        if text[index] in _FIRSTS and text[index + 1 : index + 2] in _SECONDS:  # else no sequence starts here
            length = next((n for n in _LENGTHS if index + n <= len(text) and text[index : index + n] in _SEQUENCES), 0)
        if not length and _SINGLE.match(text, index):
            length = 1
        if length:
            found.append({"emoji": text[index : index + length], "indices": [index, index + length]})
        position = index + (length or 1)
    return found


# --- the weighted length ----------------------------------------------------------------------


_LIGHT = {r["weight"] for r in OPTIONS["ranges"]}
if len(_LIGHT) != 1:
    raise RuntimeError("twitter-text's weights changed shape; features/twitter/weighing.py needs a look")
_LIGHT_WEIGHT = _LIGHT.pop()
# A character outside every range weighs the default (CJK, most emoji on their own, ...).
_HEAVY = re.compile("[^" + "".join(f"\\U{r['start']:08x}-\\U{r['end']:08x}" for r in OPTIONS["ranges"]) + "]")


def _span_weight(text: str) -> int:
    """What get_character_weight sums to over `text`, counted in C rather than a character at a time."""
    heavy = len(_HEAVY.findall(text))
    return _LIGHT_WEIGHT * (len(text) - heavy) + OPTIONS["default_weight"] * heavy


@dataclass(frozen=True)
class Weighed:
    weighted_length: int
    valid: bool  # within 280 and no character X refuses


def weigh(text: str) -> Weighed:
    """twitter_text.parse_tweet(text)'s weightedLength and valid, in linear time.

    The library's loop visits each index: a URL starting there weighs 23 and is skipped, else an
    emoji weighs 2 and is skipped, else the character weighs its range's weight; the characters it
    lands on are checked for ones X refuses. Here the runs between entities are summed at once."""
    scale = OPTIONS["scale"]
    normalized = convert_line_ending(unicodedata.normalize("NFC", text))
    urls = {entity["indices"][0]: len(entity["url"]) for entity in extract_urls_with_indices(normalized)}
    emojis = {}
    if OPTIONS["emoji_parsing_enabled"]:
        emojis = {entity["indices"][0]: len(entity["emoji"]) for entity in extract_emojis_with_indices(normalized)}
    weighted, valid, index = 0, True, 0
    for start in sorted(urls.keys() | emojis.keys()):
        if start < index:  # inside a URL or emoji already counted
            continue
        plain = normalized[index:start]
        weighted += _span_weight(plain)
        if start in urls:
            weighted += OPTIONS["transformed_url_length"] * scale
            index = start + urls[start]
        else:
            weighted += OPTIONS["default_weight"]
            index = start + emojis[start]
        # the library checks the characters it visits: each plain one, and an entity's last
        valid = valid and not has_invalid_characters(plain + normalized[index - 1 : index])
    weighted += _span_weight(normalized[index:])
    valid = valid and not has_invalid_characters(normalized[index:])
    weighted = int(weighted / scale)
    return Weighed(weighted, valid and 0 < weighted <= OPTIONS["max_weighted_tweet_length"])
