"""Per-position tables over a text, computed once and right to left: what makes features/twitter/tweet_urls.py
linear where the regexes it replaces backtrack once per start position."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

IGNORECASE = re.IGNORECASE  # twitter-text compiles extract_url and valid_ascii_domain with it; so is everything here


def resolve(memo: dict[int, Any], start: int, step: Callable[[int], int | None],
             combine: Callable[[int, Any], Any]) -> Any:
    """memo[start] = combine(start, memo[step(start)]) along the chain of steps, iteratively, each once."""
    chain = []
    position: int | None = start
    while position is not None and position not in memo:
        chain.append(position)
        position = step(position)
    value = memo[position] if position is not None else None
    for position in reversed(chain):
        value = memo[position] = combine(position, value)
    return value


def classes(text: str, pattern: re.Pattern[str]) -> list[bool]:
    return [pattern.match(char) is not None for char in text]


def next_index(text: str, keep: Callable[[int], bool]) -> list[int]:
    """For each position, the first position at or after it where `keep` is false (len(text) if none)."""
    found, after = [0] * (len(text) + 1), len(text)
    found[after] = after
    for index in range(len(text) - 1, -1, -1):
        if not keep(index):
            after = index
        found[index] = after
    return found
