"""The bounded sandbox (shared/templating.py): what a template may do, and the limits on what it
may make. Each attack is sized just past a limit, so that without the limit it would render (a
few megabytes, a second at most) and the test fail, instead of exhausting the machine."""

import pytest
from jinja2 import DictLoader, nodes
from jinja2.exceptions import SecurityError, TemplateError

from shared.templating import MAX_LOOP_STEPS, MAX_OUTPUT, MAX_PRODUCT, refused_construct, template_environment

BIG = "'x' * 100000"  # the largest string one repetition may make (MAX_PRODUCT)


def render(source: str, kind: str = "html", **values: object) -> str:
    environment = template_environment(DictLoader({f"t.{kind}": source}))
    return environment.get_template(f"t.{kind}").render(values)


def refusal(source: str, kind: str = "html") -> str | None:
    environment = template_environment(DictLoader({}))
    found = refused_construct(environment.parse(source))
    return found[0] if found else None


def test_the_limits_leave_room_for_a_real_mail():
    assert MAX_PRODUCT == 100_000 and MAX_OUTPUT == 2_000_000 and MAX_LOOP_STEPS == 1_000_000
    source = (
        "{% for row in rows %}{% for cell in row %}{{ cell|upper }}{% if not loop.last %}, {% endif %}"
        "{% endfor %};{% endfor %} {{ name ~ '!' }} {{ loop_count|default(3) }} {{ ('-' * 10) }} {{ 7 % 3 }}"
    )
    assert render(source, rows=[["a", "b"], ["c"]], name="Ada") == "A, B;C; Ada! 3 ---------- 1"


def test_html_is_escaped_and_text_is_not():
    assert render("{{ name }}", "html", name="<b>&") == "&lt;b&gt;&amp;"
    assert render("{{ name }}", "txt", name="<b>&") == "<b>&"


@pytest.mark.parametrize(
    "source",
    [
        # 30 x 100,000 characters of output (the loops themselves are allowed)
        "{% set s = " + BIG + " %}{% for i in range(30) %}{{ s }}{% endfor %}",
        # the same through a {% set %} block, which joins its own output
        "{% set s = " + BIG + " %}{% set t %}{% for i in range(30) %}{{ s }}{% endfor %}{% endset %}{{ t|length }}",
    ],
)
def test_the_output_of_a_render_is_bounded(source):
    with pytest.raises(SecurityError, match="at most"):
        render(source)


def test_loops_over_long_strings_are_bounded_in_steps():
    # range() is capped, but a string is iterable too: 1,100 x 1,000 steps with no output at all.
    source = "{% for a in 'x' * 1100 %}{% for b in 'x' * 1000 %}{% endfor %}{% endfor %}done"
    with pytest.raises(SecurityError, match="steps"):
        render(source)


def test_concatenation_with_tilde_is_bounded():
    doublings = "".join(f"{{% set s{i + 1} = s{i} ~ s{i} %}}" for i in range(5))  # 3.2 million characters
    with pytest.raises(SecurityError, match="at most"):
        render("{% set s0 = " + BIG + " %}" + doublings + "{{ s5|length }}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ '%3000000s' % 'a' }}",
        "{{ 'a'.ljust(3000000) }}",
        "{{ 'a'.center(3000000) }}",
        "{{ '{:>3000000}'.format(1) }}",
        "{{ ('a' * 2000).translate({97: 'b' * 2000})|length }}",
        "{{ ('b' * 2000).join('a' * 2000)|length }}",
        "{{ ('a' * 3000)|join('b' * 1000)|length }}",
    ],
)
def test_strings_cannot_be_padded_formatted_or_joined_past_the_limit(source):
    with pytest.raises(SecurityError):
        render(source)


def test_lists_cannot_be_changed_in_place():
    # l.extend(l) doubles a list each time: forty of them would take all memory.
    with pytest.raises(SecurityError):
        render("{% set l = [1] %}{{ l.extend(l) }}{{ l|length }}")


def test_a_repetition_counts_what_its_items_hold():
    # 200 items of 1,000 characters: the list is short, its text is not.
    with pytest.raises(SecurityError, match="repetition"):
        render("{{ ['a' * 1000] * 200 }}")


def test_integers_cannot_be_multiplied_past_the_limit():
    with pytest.raises(SecurityError):
        render("{% set a = 10 ** 20000 %}{{ (a * a) > 1 }}")


def test_escaping_again_and_again_cannot_grow_a_text_without_bound():
    # Each |e turns '&' into '&amp;' (2.1 million characters after five); `~ ''` makes the result plain text again in a text template.
    source = "{% set s = '\"' * 100000 %}{{ ((((s|e ~ '')|e ~ '')|e ~ '')|e ~ '')|e|length }}"
    with pytest.raises(SecurityError, match="at most"):
        render(source, "txt")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% macro m() %}{% endmacro %}", "macro"),
        ("{% include 'x' %}", "include"),
        ("{% extends 'x' %}", "extends"),
        ("{% for a in b %}{% for c in a %}{% for d in c %}{% endfor %}{% endfor %}{% endfor %}", "nested"),
        # A block can call itself through `self`: two calls a level make a recursion 2**1000 calls wide.
        ("{% block b %}{{ self.b() }}{{ self.b() }}{% endblock %}", "block"),
        ("{% for c in 'ab' recursive %}{{ loop(c) }}{% endfor %}", "recursive"),
        # Visitors' names end up in mails: nothing may switch escaping off (the safe filter is gone too).
        ("{% autoescape false %}{{ name }}{% endautoescape %}", "autoescape"),
    ],
)
def test_constructs_a_mail_does_not_need_are_refused(source, message):
    assert message in (refusal(source) or "")


def test_a_refused_construct_names_its_line():
    environment = template_environment(DictLoader({}))
    assert refused_construct(environment.parse("one\ntwo\n{% block b %}{% endblock %}")) == (
        "block is not allowed in a mail template", 3
    )


def test_unknown_filters_and_globals_do_not_exist():
    for source in ("{{ 'x'|center(9) }}", "{{ 'x'|safe }}", "{{ cycler }}", "{{ lipsum() }}", "{{ namespace() }}"):
        with pytest.raises(TemplateError):
            render(source)


def test_a_template_parses_to_the_nodes_staff_wrote():
    # The loop bound is added when compiling, not to the tree that checks read.
    parsed = template_environment(DictLoader({})).parse("{% for a in b %}{{ a }}{% endfor %}")
    [loop] = parsed.find_all(nodes.For)
    assert isinstance(loop.iter, nodes.Name) and loop.iter.name == "b"
