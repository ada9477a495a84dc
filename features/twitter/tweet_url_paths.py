"""twitter-text's URL path (`\\/valid_url_path*`), matched as its regex matches it, in time linear in the text.

The package's path regex is quadratic on runs of balanced parentheses: each segment's greedy stars
take the rest of the chain, then give it back. Here a segment's end is computed once per position.
"""

from __future__ import annotations

import re

from twitter_text.regexp.valid_general_url_path_chars import valid_general_url_path_chars
from twitter_text.regexp.valid_url_balanced_parens import valid_url_balanced_parens
from twitter_text.regexp.valid_url_path_ending_chars import valid_url_path_ending_chars

from features.twitter.scan_tables import IGNORECASE, classes, next_index, resolve

_PATH_CHAR = re.compile(valid_general_url_path_chars.pattern, IGNORECASE)
# valid_url_path_ending_chars is `[class]|(?:parens)`; inside valid_url_path its `|` splits the
# segment into `chars* (parens chars*)* [class]`, `parens` and `@chars+/`, in that order.
_ENDING_CLASS, _, _ENDING_PARENS = valid_url_path_ending_chars.pattern.partition("|")
if f"(?:{valid_url_balanced_parens.pattern})" != _ENDING_PARENS:
    raise RuntimeError("twitter-text's path ending pattern changed shape; tweet_url_paths.py needs a look")
_PATH_ENDING_CHAR = re.compile(_ENDING_CLASS, IGNORECASE)
_PARENS = re.compile(valid_url_balanced_parens.pattern, IGNORECASE)
_AT_SEGMENT = re.compile(f"@{valid_general_url_path_chars.pattern}+/", IGNORECASE)


class Path:
    """valid_url_path*: segments, each the first of `chars* (parens chars*)* ending`, `parens`, `@chars+/`."""

    def __init__(self, text: str) -> None:
        self.text = text
        path_char = classes(text, _PATH_CHAR)
        ending = classes(text, _PATH_ENDING_CHAR)
        self.run_stop = next_index(text, lambda i: path_char[i])
        self.last_ending = [-1] * (len(text) + 1)  # the last ending character before each position
        for index, is_ending in enumerate(ending):
            self.last_ending[index + 1] = index if is_ending else self.last_ending[index]
        self._parens: dict[int, int] = {}
        self._chains: dict[int, int | None] = {}

    def parens(self, position: int) -> int:
        if position not in self._parens:
            found = _PARENS.match(self.text, position) if self.text.startswith("(", position) else None
            self._parens[position] = found.end() - position if found else 0
        return self._parens[position]

    def chained(self, start: int) -> int | None:
        """`chars* (parens chars*)* ending` from `start`: the greedy stars take the whole chain, then give
        back until an ending character follows, so the segment ends after the chain's last ending
        character outside parentheses; None when it has none."""

        def step(position: int) -> int | None:
            stop = self.run_stop[position]
            return stop + self.parens(stop) if self.parens(stop) else None

        def combine(position: int, further: int | None) -> int | None:
            if further is not None:
                return further
            last = self.last_ending[self.run_stop[position]]
            return last + 1 if last >= position else None

        return resolve(self._chains, start, step, combine)

    def end(self, position: int) -> int:
        while True:
            segment = self.chained(position)
            if segment is None and self.parens(position):
                segment = position + self.parens(position)
            if segment is None and (at := _AT_SEGMENT.match(self.text, position)):
                segment = at.end()
            if segment is None:
                return position
            position = segment
