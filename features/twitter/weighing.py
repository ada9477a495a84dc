"""X's weighted length of a tweet, exactly as twitter-text computes it, in time linear in the text.

`twitter-text-parser` is a faithful port of X's twitter-text, but three of its regexes are too slow
to run on request input: the URL regex backtracks over every dot-separated label for every start
position, trying a 1,500-way TLD alternation at each step (quadratic: 'a.' * 2000 takes about 90 s,
and it holds the GIL); its path regex is quadratic on runs of balanced parentheses; and its emoji
alternation costs about 25 µs per character. Here the library's own regexes, built from the same
pattern text with the same flags, answer the same questions, but each question is asked once:

- the TLD alternation is rebuilt as a trie of the same literals (longest first, as the library's
  order has them), asked once per position after a dot;
- the greedy choice of a domain's labels (`subdomain* domain_name TLD`, the last label after which
  a TLD follows) and of a path segment (the last ending character before the chain of balanced
  parentheses stops) is computed once per position, right to left, instead of once per start;
- emoji are the longest listed sequence at a position (the library's alternation is sorted longest
  first), found by set look-ups at the positions where one can start.

The driver around them is the library's `extract_urls_with_indices` and `parse_tweet`, line for line.
features/twitter/tests/test_weighing.py compares every function here with the library's on generated
texts, and test_segments.py runs X's conformance cases through it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from twitter_text.config import config
from twitter_text.extract_urls import default_protocol, is_valid_url, max_tco_slug_length
from twitter_text.has_invalid_characters import has_invalid_characters
from twitter_text.parse_tweet import convert_line_ending
from twitter_text.regexp import emoji as emoji_table
from twitter_text.regexp.invalid_url_without_protocol_preceding_chars import (
    invalid_url_without_protocol_preceding_chars,
)
from twitter_text.regexp.latin_accent_chars import latin_accent_chars
from twitter_text.regexp.valid_cctld import valid_cctld
from twitter_text.regexp.valid_domain_chars import valid_domain_chars
from twitter_text.regexp.valid_general_url_path_chars import valid_general_url_path_chars
from twitter_text.regexp.valid_gtld import valid_gtld
from twitter_text.regexp.valid_port_number import valid_port_number
from twitter_text.regexp.valid_punycode import valid_punycode
from twitter_text.regexp.valid_tco_url import valid_tco_url
from twitter_text.regexp.valid_url_balanced_parens import valid_url_balanced_parens
from twitter_text.regexp.valid_url_path_ending_chars import valid_url_path_ending_chars
from twitter_text.regexp.valid_url_preceding_chars import valid_url_preceding_chars
from twitter_text.regexp.valid_url_query_chars import valid_url_query_chars
from twitter_text.regexp.valid_url_query_ending_chars import valid_url_query_ending_chars

OPTIONS = config["defaults"]  # configuration v3, the one X applies
_I = re.IGNORECASE  # extract_url and valid_ascii_domain are compiled with it; so is everything here


# --- the TLD alternation as a trie ------------------------------------------------------------

_LOOKAHEAD = "(?=[^0-9a-zA-Z@+-]|$)"


def _alternatives(pattern: re.Pattern[str]) -> list[str]:
    """The literal TLDs of valid_gtld / valid_cctld, in the library's order."""
    prefix, suffix = "(?:(?:", ")" + _LOOKAHEAD + ")"
    text = pattern.pattern
    if not (text.startswith(prefix) and text.endswith(suffix)):
        raise RuntimeError("twitter-text's TLD pattern changed shape; features/twitter/weighing.py needs a look")
    words = text[len(prefix) : -len(suffix)].split("|")
    if any(not word or set(word) & set("\\()[]{}?*+.^$|") for word in words):
        raise RuntimeError("twitter-text's TLD list holds more than literals")
    # The alternation takes the first TLD that matches, the trie the longest: the same while every TLD
    # comes before its prefixes, as in the library's reverse-sorted lists.
    order = {word: index for index, word in enumerate(words)}
    ranked = sorted(words)
    for index, word in enumerate(ranked):
        for longer in ranked[index + 1 :]:
            if not longer.startswith(word):
                break
            if order[longer] > order[word]:
                raise RuntimeError(f"TLD {word!r} precedes its extension {longer!r}")
    return words


def _trie(words: list[str]) -> str:
    """A regex matching what `(?:w1|w2|...)LOOKAHEAD` matches: one branch per first character, longer
    words before shorter ones, the lookahead after the trie (a failed lookahead backtracks into the
    trie to the next shorter word, as the alternation would move to the next word)."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in node.items() if char]
        if "" in node:
            branches.append("")  # the word ends here: tried after the longer words
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return f"(?:{emit(root)}){_LOOKAHEAD}"


# valid_domain's `(?:gtld|cctld|punycode)`, each group in its order.
_TLD = re.compile(
    f"(?:{_trie(_alternatives(valid_gtld))}|{_trie(_alternatives(valid_cctld))}|{valid_punycode.pattern})", _I
)

_DOMAIN_CHAR = re.compile(valid_domain_chars.pattern, _I)
_PRECEDING_THEN_DOMAIN_CHAR = re.compile(f"(?:{valid_url_preceding_chars.pattern})(?={valid_domain_chars.pattern})", _I)
_PRECEDING_CHAR = re.compile(valid_url_preceding_chars.pattern.replace("|^)", ")"), _I)
_PROTOCOL = re.compile(r"https?:\/\/", _I)
_PORT = re.compile(f":({valid_port_number.pattern})", _I)
_QUERY = re.compile(f"\\?{valid_url_query_chars.pattern}*{valid_url_query_ending_chars.pattern}", _I)
_PATH_CHAR = re.compile(valid_general_url_path_chars.pattern, _I)
# valid_url_path_ending_chars is `[class]|(?:parens)`; inside valid_url_path its `|` splits the
# segment into `chars* (parens chars*)* [class]`, `parens` and `@chars+/`, in that order.
_ENDING_CLASS, _, _ENDING_PARENS = valid_url_path_ending_chars.pattern.partition("|")
_PATH_ENDING_CHAR = re.compile(_ENDING_CLASS, _I)
_PARENS = re.compile(valid_url_balanced_parens.pattern, _I)
_AT_SEGMENT = re.compile(f"@{valid_general_url_path_chars.pattern}+/", _I)
_ASCII_LABEL_CHAR = re.compile(f"[\\-a-z0-9{latin_accent_chars.pattern}]", _I)


def _resolve(memo: dict[int, Any], start: int, step: Callable[[int], int | None],
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


def _classes(text: str, pattern: re.Pattern[str]) -> list[bool]:
    return [pattern.match(char) is not None for char in text]


def _next_index(text: str, keep: Callable[[int], bool]) -> list[int]:
    """For each position, the first position at or after it where `keep` is false (len(text) if none)."""
    found, after = [0] * (len(text) + 1), len(text)
    found[after] = after
    for index in range(len(text) - 1, -1, -1):
        if not keep(index):
            after = index
        found[index] = after
    return found


class _Labels:
    """Dot-separated labels of `text` (up to `end`): which start where, which are valid, where a TLD follows."""

    def __init__(self, text: str, end: int, label_char: list[bool], tld_char_ok: Callable[[int], bool]) -> None:
        self.text, self.end = text, end
        self.next_dot = _next_index(text[:end], lambda i: text[i] != ".")
        self.label_char = label_char
        self._tlds: dict[int, int] = {}
        self._tld_char_ok = tld_char_ok

    def tld(self, position: int) -> int:
        """The length of the TLD the library's alternation finds at `position` (0: none)."""
        if position not in self._tlds:
            found = _TLD.match(self.text, position, self.end) if self._tld_char_ok(position) else None
            self._tlds[position] = found.end() - position if found else 0
        return self._tlds[position]


class _Text:
    """One text's URL machinery, each table computed once, when first needed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        domain_char = _classes(text, _DOMAIN_CHAR)
        self.domain_char = domain_char
        self.labels = _Labels(text, self.n, domain_char, lambda i: i < self.n)
        # subdomain: `(?:C(?:[_-]|C)*)?C\.`; domain_name the same without `_` (C: a domain character)
        self.sub_stop = _next_index(text, lambda i: domain_char[i] or text[i] in "_-")
        self.name_stop = _next_index(text, lambda i: domain_char[i] or text[i] == "-")
        self._domains: dict[int, int | None] = {}
        self._path: _Path | None = None

    def _subdomain(self, start: int) -> bool:
        dot = self.labels.next_dot[start]
        return (start < self.n and dot < self.n and self.domain_char[start] and self.sub_stop[start] == dot
                and self.domain_char[dot - 1])

    def _domain_name(self, start: int) -> bool:
        return self._subdomain(start) and self.name_stop[start] == self.labels.next_dot[start]

    def domain_end(self, start: int) -> int | None:
        """Where `subdomain* domain_name TLD` starting at `start` ends, greedy as the regex is, or None."""

        def step(position: int) -> int | None:
            return self.labels.next_dot[position] + 1 if self._subdomain(position) else None

        def combine(position: int, further: int | None) -> int | None:
            if not self._subdomain(position):
                return None
            if further is not None:  # a later label followed by a TLD: the greedy star keeps the labels
                return further
            after = self.labels.next_dot[position] + 1
            return position if self._domain_name(position) and self.labels.tld(after) else None

        name = _resolve(self._domains, start, step, combine)
        if name is None:
            return None
        after = self.labels.next_dot[name] + 1
        return after + self.labels.tld(after)

    def path_end(self, start: int) -> int:
        """Where `\\/valid_url_path*` starting at the slash at `start` ends."""
        self._path = self._path or _Path(self.text)
        return self._path.end(start + 1)


class _Path:
    """valid_url_path*: segments, each the first of `chars* (parens chars*)* ending`, `parens`, `@chars+/`."""

    def __init__(self, text: str) -> None:
        self.text = text
        path_char = _classes(text, _PATH_CHAR)
        ending = _classes(text, _PATH_ENDING_CHAR)
        self.run_stop = _next_index(text, lambda i: path_char[i])
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

        return _resolve(self._chains, start, step, combine)

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


@dataclass(frozen=True)
class _UrlMatch:
    """What one match of the library's extract_url captures."""

    before: str
    url: str
    protocol: str | None
    domain: str
    path: str | None
    end: int


def _try_url(scan: _Text, position: int) -> _UrlMatch | None:
    text = scan.text
    starts = []
    if _PRECEDING_CHAR.match(text, position):
        starts.append((text[position], position + 1))
    if position == 0:
        starts.append(("", 0))  # the `^` alternative, tried after a preceding character
    for before, url_start in starts:
        protocol = _PROTOCOL.match(text, url_start)
        for proto in ((protocol.group(),) if protocol else ()) + (None,):
            domain_start = url_start + len(proto or "")
            domain_end = scan.domain_end(domain_start)
            if domain_end is None:
                continue
            end = domain_end
            if port := _PORT.match(text, end):
                end = port.end()
            path = None
            if text.startswith("/", end):
                path_end = scan.path_end(end)
                path, end = text[end:path_end], path_end
            if query := _QUERY.match(text, end):
                end = query.end()
            return _UrlMatch(before, text[url_start:end], proto, text[domain_start:domain_end], path, end)
    return None


def _url_matches(text: str) -> Iterator[_UrlMatch]:
    """What `extract_url.finditer(text)` yields, in order."""
    scan = _Text(text)
    position = 0
    while (candidate := _PRECEDING_THEN_DOMAIN_CHAR.search(text, position)) is not None:
        found = _try_url(scan, candidate.start())
        if found is None:
            position = candidate.start() + 1
            continue
        yield found
        position = found.end


def _ascii_domains(domain: str) -> Iterator[tuple[int, int]]:
    """What `valid_ascii_domain.finditer(domain)` finds: `(?:[-a-z0-9latin]+\\.)+TLD`, greedy."""
    if "." not in domain:
        return
    labels = _Labels(domain, len(domain), _classes(domain, _ASCII_LABEL_CHAR), lambda i: i < len(domain))
    stop = _next_index(domain, lambda i: labels.label_char[i])
    memo: dict[int, int | None] = {}

    def label(position: int) -> bool:
        dot = labels.next_dot[position]
        return dot < len(domain) and dot > position and stop[position] == dot

    def step(position: int) -> int | None:
        return labels.next_dot[position] + 1 if label(position) else None

    def combine(position: int, further: int | None) -> int | None:
        if not label(position):
            return None
        after = labels.next_dot[position] + 1
        return further if further is not None else (after if labels.tld(after) else None)

    position = 0
    while position < len(domain):
        tld = _resolve(memo, position, step, combine)
        if tld is None:
            position += 1
            continue
        end = tld + labels.tld(tld)
        yield position, end
        position = end


def extract_urls_with_indices(text: str) -> list[dict[str, Any]]:
    """twitter_text.extract_urls.extract_urls_with_indices(text), line for line, on the linear matchers."""
    if text == "" or "." not in text:
        return []
    urls: list[dict[str, Any]] = []
    for match in _url_matches(text):
        url, protocol, domain, path = match.url, match.protocol, match.domain, match.path
        end_position = match.end
        start_position = end_position - len(url)
        if not is_valid_url(url, protocol or default_protocol, domain):
            continue
        if protocol is None:
            if invalid_url_without_protocol_preceding_chars.match(match.before):
                continue
            last_url = None
            for ascii_start, ascii_end in _ascii_domains(domain):
                last_url = {"url": domain[ascii_start:ascii_end],
                            "indices": [start_position + ascii_start, start_position + ascii_end]}
                urls.append(last_url)
            if last_url is None:
                continue
            if path:
                last_url["url"] = url.replace(domain, last_url["url"])
                last_url["indices"][1] = end_position
        else:
            tco = valid_tco_url.search(url)
            if tco:
                if tco.group(1) and len(tco.group(1)) > max_tco_slug_length:
                    continue
                url = tco.group(0)
                end_position = start_position + len(url)
            urls.append({"url": url, "indices": [start_position, end_position]})
    return urls


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
