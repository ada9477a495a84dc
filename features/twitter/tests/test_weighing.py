"""features/twitter/weighing.py and tweet_urls.py against the package they stand in for: the same answers
on generated texts (URLs, domains, paths, emoji, case folding), and no input that makes them slow."""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet
from twitter_text.extract_emojis import extract_emojis_with_indices as library_emojis
from twitter_text.extract_urls import extract_urls_with_indices as library_urls
from twitter_text.regexp.valid_cctld import valid_cctld
from twitter_text.regexp.valid_gtld import valid_gtld
from twitter_text.regexp.valid_punycode import valid_punycode

from features.twitter import tweet_url_paths, tweet_urls, weighing
from features.twitter.schemas import MAX_RAW_TEXT
from features.twitter.tests.factories import BASE

# Pieces the library's regexes branch on: TLDs and their prefixes (ASCII, IDN, one TLD inside another),
# label and path characters, parentheses, protocols, t.co, case-folding look-alikes (KELVIN SIGN folds
# to k, LONG S to s), emoji parts (ZWJ, skin tone, keycap), line ends, a character X refuses.
PIECES = [
    "a", "b", "x", "co", "com", "uk", "jp", "me", "onion", "xn--", "xn--p1ai", "삼성", "嘉里", "嘉里大酒店", "コム",
    ".", ".", ".", "-", "_", "/", "//", ":", "?", "!", "#", "@", "&", "=", "(", ")", "((", "))", ",", "~", "'",
    "https://", "http://", "HTTPS://", "t.co/", "t.co/abc", " ", "\n", "\r\n", "\u3000", "é", "ö", "日", "ж",
    "\u212a", "\u017f", "\u0130", "1", "80", "😀", "\u200d", "👨", "💻", "🏽", "#\ufe0f\u20e3", "🇩🇪", "\ufffe",
    "\u202e", "e\u0301", "\uff03", "$",
]
texts = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
ALTERNATION = re.compile(f"(?:{valid_gtld.pattern}|{valid_cctld.pattern}|{valid_punycode.pattern})", re.I)
checked = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@checked
@given(texts)
def test_urls_are_the_librarys(text):
    assert tweet_urls.extract_urls_with_indices(text) == library_urls(text)


@checked
@given(texts)
def test_emoji_are_the_librarys(text):
    assert weighing.extract_emojis_with_indices(text) == library_emojis(text)


@checked
@given(texts)
def test_the_weighted_length_and_validity_are_the_librarys(text):
    parsed = parse_tweet(text)
    assert weighing.weigh(text) == weighing.Weighed(parsed.weightedLength, parsed.valid)


@checked
@given(texts)
def test_the_tld_trie_matches_what_the_alternation_matches_at_every_position(text):
    for position in range(len(text) + 1):
        ours, theirs = tweet_urls._TLD.match(text, position), ALTERNATION.match(text, position)
        assert (ours and ours.end()) == (theirs and theirs.end()), position


LONG = MAX_RAW_TEXT
WORST = {  # each took the library from a second to minutes at this length
    "dotted labels": "a." * (LONG // 2),
    "dotted labels after a protocol": "https://" + "a." * ((LONG - 8) // 2),
    "labels with underscores": "x_a.com." * (LONG // 8),
    "parentheses in a path": "https://a.com/" + "(a)" * ((LONG - 14) // 3),
    "emoji": "😀" * LONG,
    "a long valid url": "https://" + "a." * 1985 + "com/" + "b" * 15,
}


class CountingPattern:
    """A compiled pattern that counts its calls (the work the weighing does, in regex calls)."""

    def __init__(self, pattern):
        self.pattern, self.calls = pattern, 0

    def match(self, *args):
        self.calls += 1
        return self.pattern.match(*args)

    def search(self, *args):
        self.calls += 1
        return self.pattern.search(*args)


def test_no_input_makes_the_weighing_super_linear(monkeypatch):
    """Each regex is asked at most about once per character: the TLD trie once per position after a dot,
    the balanced parentheses once per `(`, the others once per URL."""
    modules = {"_TLD": tweet_urls, "_QUERY": tweet_urls, "_PORT": tweet_urls, "_PROTOCOL": tweet_urls,
               "_PARENS": tweet_url_paths, "_AT_SEGMENT": tweet_url_paths}
    counters = {name: CountingPattern(getattr(module, name)) for name, module in modules.items()}
    for name, counter in counters.items():
        monkeypatch.setattr(modules[name], name, counter)
    for name, text in WORST.items():
        for counter in counters.values():
            counter.calls = 0
        weighed = weighing.weigh(text)
        assert counters["_TLD"].calls <= text.count(".") * 2 + 2, name
        assert counters["_PARENS"].calls <= text.count("(") + 1, name
        assert sum(c.calls for c in counters.values()) <= 3 * len(text), name
        if name == "a long valid url":
            assert weighed == weighing.Weighed(23, True)  # one URL, whatever its length


async def test_a_thread_of_the_librarys_slowest_texts_is_refused_naming_each_and_a_long_url_is_taken(
    client, editor_headers, connect_account
):
    account = await connect_account()
    slow = [WORST["dotted labels"], WORST["labels with underscores"], WORST["dotted labels after a protocol"]]
    body = {"account_id": account["id"], "segments": [{"text": text} for text in slow]}

    response = await client.post(f"{BASE}/content", json=body, headers=editor_headers)

    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == [f"segments.{n}.text" for n in range(3)]
    valid = [WORST["a long valid url"], WORST["parentheses in a path"]]
    body = {"account_id": account["id"], "segments": [{"text": text} for text in valid]}
    assert (await client.post(f"{BASE}/content", json=body, headers=editor_headers)).status_code == 201
