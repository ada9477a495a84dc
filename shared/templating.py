"""The one Jinja2 environment factory: transactional mails and staff-written campaign templates.

Sandboxed (a template is text, not code: campaign templates are staff input), strict (an unknown
variable is an error, never a silent blank), HTML escaped in `.html` templates only, and bounded:
a template cannot make a render take unbounded memory or time through the few doors the sandbox
leaves open (`'x' * 10**9`, `range(10**9)`, `'x'|center(10**9)`, recursion through macros).
"""

from __future__ import annotations

import operator
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, nodes, select_autoescape
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_RANGE = 1000  # items a template's range() may produce
MAX_PRODUCT = 100_000  # characters or items a `*` may produce; digits an int may reach through `**`
MAX_OUTPUT = 2_000_000  # characters a `+` or a replace() may produce
MAX_LOOP_DEPTH = 2  # nested for-loops: range() caps each at MAX_RANGE, so at most a million steps
# Filters a mail needs; the rest (center, indent, wordwrap, format, safe, ...) can grow a string
# without bound or pass visitor data unescaped into HTML.
ALLOWED_FILTERS = frozenset({
    "capitalize", "d", "default", "e", "escape", "first", "float", "int", "join", "last", "length", "lower",
    "replace", "round", "string", "striptags", "title", "trim", "truncate", "upper", "urlencode",
})
# Template constructs that call, include or import further templates: a recursion of them is
# exponential in the template's length, so they have no place in a mail.
FORBIDDEN_NODES = (nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


def _bounded_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise SecurityError(f"range() may produce at most {MAX_RANGE} items")
    return values


def _bounded_replace(environment: Any) -> Any:
    replace = environment.filters["replace"]

    def bounded(eval_ctx: Any, value: Any, old: str, new: str, count: int | None = None) -> Any:
        text, new_text = str(value), str(new)
        matches = text.count(old) if old else len(text) + 1  # '' matches between every character
        if len(text) + matches * len(new_text) > MAX_OUTPUT:
            raise SecurityError(f"a value may have at most {MAX_OUTPUT} characters")
        return replace(eval_ctx, value, old, new, count)

    bounded.jinja_pass_arg = replace.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox with `*` and `**` checked before they run (and so never folded at compile time)."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "+" and (_size(left) or 0) + (_size(right) or 0) > MAX_OUTPUT:
            raise SecurityError(f"a value may have at most {MAX_OUTPUT} characters")
        if operator_name == "*":
            for sequence, count in ((left, right), (right, left)):
                size = _size(sequence)
                if size is not None and isinstance(count, int) and size * count > MAX_PRODUCT:
                    raise SecurityError(f"a repetition may produce at most {MAX_PRODUCT} characters")
        if operator_name == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1 and right * max(abs(left).bit_length(), 1) > MAX_PRODUCT:
                raise SecurityError("the power is too large")
            return operator.pow(left, right)
        return super().call_binop(context, operator_name, left, right)


def template_environment(loader: BaseLoader) -> BoundedSandbox:
    """A sandboxed environment over `loader`: autoescape for .html, StrictUndefined, blocks trimmed."""
    environment = BoundedSandbox(
        loader=loader,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code: no stat of the file on every render (each confirmation
        # is rendered in the API process, beside the registrations the benchmark counts).
        auto_reload=False,
    )
    environment.filters = {name: environment.filters[name] for name in ALLOWED_FILTERS}
    environment.filters["replace"] = _bounded_replace(environment)
    environment.globals = {"range": _bounded_range}
    environment.tests = {name: environment.tests[name] for name in ("defined", "undefined", "none", "number", "string")}
    return environment


def refused_construct(source: nodes.Template) -> tuple[str, int] | None:
    """What a parsed template uses that mails may not (a macro, an include, loops nested too
    deeply), with its line; None when it uses none. Checked when a staff template is saved."""
    for node in source.find_all(FORBIDDEN_NODES):
        return f"{type(node).__name__.lower()} is not allowed in a mail template", node.lineno
    too_deep = _loop_deeper_than(source, MAX_LOOP_DEPTH)
    if too_deep is not None:
        return f"for-loops may be nested at most {MAX_LOOP_DEPTH} deep", too_deep.lineno
    return None


def _loop_deeper_than(node: nodes.Node, allowed: int) -> nodes.For | None:
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.For):
            if allowed == 0:
                return child
            found = _loop_deeper_than(child, allowed - 1)
        else:
            found = _loop_deeper_than(child, allowed)
        if found is not None:
            return found
    return None
