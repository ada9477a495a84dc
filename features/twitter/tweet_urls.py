"""The URLs twitter-text finds in a tweet, exactly as `twitter_text.extract_urls.extract_urls_with_indices`
finds them, in time linear in the text.

The package's URL regex backtracks over every dot-separated label for every start position, trying
a 1,500-way TLD alternation at each step (quadratic: 'a.' * 2000 takes about 90 s, holding the
GIL), and its path regex is quadratic on runs of balanced parentheses. Here the package's own
patterns, with the same flags, answer the same questions, each once:

- the TLD alternation is rebuilt as a trie of the same literals (longest first, as the package's
  reverse-sorted lists have them), asked once per position after a dot;
- the greedy choice of a domain's labels (`subdomain* domain_name TLD`: the last label a TLD
  follows) and of a path segment (the chain's last ending character outside parentheses) is
  computed once per position, right to left, instead of once per start;
- the driver is the package's `extract_urls_with_indices`, line for line.

features/twitter/tests/test_weighing.py compares it with the package on generated texts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from twitter_text.extract_urls import default_protocol, is_valid_url, max_tco_slug_length
from twitter_text.regexp.invalid_url_without_protocol_preceding_chars import (
    invalid_url_without_protocol_preceding_chars,
)
from twitter_text.regexp.valid_ascii_domain import valid_ascii_domain
from twitter_text.regexp.valid_cctld import valid_cctld
from twitter_text.regexp.valid_domain_chars import valid_domain_chars
from twitter_text.regexp.valid_gtld import valid_gtld
from twitter_text.regexp.valid_port_number import valid_port_number
from twitter_text.regexp.valid_punycode import valid_punycode
from twitter_text.regexp.valid_tco_url import valid_tco_url
from twitter_text.regexp.valid_url_preceding_chars import valid_url_preceding_chars
from twitter_text.regexp.valid_url_query_chars import valid_url_query_chars
from twitter_text.regexp.valid_url_query_ending_chars import valid_url_query_ending_chars

from features.twitter.scan_tables import IGNORECASE, classes, next_index, resolve
from features.twitter.tweet_url_paths import Path

_I = IGNORECASE


# --- the TLD alternation as a trie ------------------------------------------------------------

_LOOKAHEAD = "(?=[^0-9a-zA-Z@+-]|$)"


def _alternatives(pattern: re.Pattern[str]) -> list[str]:
    """The literal TLDs of valid_gtld / valid_cctld, in the library's order."""
    prefix, suffix = "(?:(?:", ")" + _LOOKAHEAD + ")"
    text = pattern.pattern
    if not (text.startswith(prefix) and text.endswith(suffix)):
        raise RuntimeError("twitter-text's TLD pattern changed shape; features/twitter/tweet_urls.py needs a look")
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
if not valid_url_preceding_chars.pattern.endswith("|^)"):
    raise RuntimeError("twitter-text's preceding-character pattern changed shape; tweet_urls.py needs a look")
_PRECEDING_CHAR = re.compile(valid_url_preceding_chars.pattern[: -len("|^)")] + ")", _I)  # one character
_PROTOCOL = re.compile(r"https?:\/\/", _I)
_PORT = re.compile(f":({valid_port_number.pattern})", _I)
_QUERY = re.compile(f"\\?{valid_url_query_chars.pattern}*{valid_url_query_ending_chars.pattern}", _I)
# valid_ascii_domain is `(?:(?:[label chars]+)\.)+(?:gtld|cctld|punycode)`
_ASCII_LABEL_CLASS = valid_ascii_domain.pattern.removeprefix("(?:(?:").partition("+)")[0]
if not valid_ascii_domain.pattern.startswith(f"(?:(?:{_ASCII_LABEL_CLASS}+)\\.)+(?:"):
    raise RuntimeError("twitter-text's ASCII domain pattern changed shape; tweet_urls.py needs a look")
_ASCII_LABEL_CHAR = re.compile(_ASCII_LABEL_CLASS, _I)


class _Labels:
    """Dot-separated labels of `text` (up to `end`): which start where, which are valid, where a TLD follows."""

    def __init__(self, text: str, end: int, label_char: list[bool], tld_char_ok: Callable[[int], bool]) -> None:
        self.text, self.end = text, end
        self.next_dot = next_index(text[:end], lambda i: text[i] != ".")
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
        domain_char = classes(text, _DOMAIN_CHAR)
        self.domain_char = domain_char
        self.labels = _Labels(text, self.n, domain_char, lambda i: i < self.n)
        # subdomain: `(?:C(?:[_-]|C)*)?C\.`; domain_name the same without `_` (C: a domain character)
        self.sub_stop = next_index(text, lambda i: domain_char[i] or text[i] in "_-")
        self.name_stop = next_index(text, lambda i: domain_char[i] or text[i] == "-")
        self._domains: dict[int, int | None] = {}
        self._path: Path | None = None

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

        name = resolve(self._domains, start, step, combine)
        if name is None:
            return None
        after = self.labels.next_dot[name] + 1
        return after + self.labels.tld(after)

    def path_end(self, start: int) -> int:
        """Where `\\/valid_url_path*` starting at the slash at `start` ends."""
        self._path = self._path or Path(self.text)
        return self._path.end(start + 1)


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
    labels = _Labels(domain, len(domain), classes(domain, _ASCII_LABEL_CHAR), lambda i: i < len(domain))
    stop = next_index(domain, lambda i: labels.label_char[i])
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
        tld = resolve(memo, position, step, combine)
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
