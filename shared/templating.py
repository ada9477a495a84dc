"""The one Jinja2 environment factory: transactional mails and staff-written campaign templates.

Sandboxed (a template is text, not code: campaign templates are staff input), strict (an unknown
variable is an error, never a silent blank), HTML escaped in `.html` templates only, and bounded:
a template cannot make a render take unbounded memory or time. The doors the sandbox leaves open
are each closed here: `'x' * 10**9` and `10**10**9` (checked before they run), `range(10**9)`,
loops over long strings (a budget of loop steps per render), growing a value step by step (`~`,
`+`, filters, `{% set %}` blocks: every value and every render's output is at most MAX_OUTPUT
characters), string methods that pad or format (`'x'.ljust(10**9)`: only methods that cannot
grow a string), lists changed in place (`l.extend(l)`), and recursion through macros or blocks.
"""

from __future__ import annotations

import copy
import functools
import operator
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, ValuesView
from typing import Any

from jinja2 import BaseLoader, StrictUndefined, nodes, select_autoescape
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RANGE = 1000  # items a template's range() may produce
MAX_PRODUCT = 100_000  # characters or items a `*` may produce; bits an int may reach through `*` or `**`
MAX_OUTPUT = 2_000_000  # characters a value or a render's output may have
MAX_LOOP_STEPS = 1_000_000  # loop iterations of one render, every loop together
MAX_LOOP_DEPTH = 2  # nested for-loops: range() caps each at MAX_RANGE, so at most a million steps
# Filters a mail needs; the rest (center, indent, wordwrap, format, safe, ...) can grow a string
# without bound or pass visitor data unescaped into HTML.
ALLOWED_FILTERS = frozenset({
    "capitalize", "d", "default", "e", "escape", "first", "float", "int", "join", "last", "length", "lower",
    "replace", "round", "string", "striptags", "title", "trim", "truncate", "upper", "urlencode",
})
# String methods that cannot make a string longer than it is (no ljust, center, zfill, expandtabs,
# format, join, replace, translate: the filters cover what a mail needs of those, bounded).
ALLOWED_STRING_METHODS = frozenset({
    "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha", "isdecimal", "isdigit",
    "islower", "isnumeric", "isspace", "istitle", "isupper", "lower", "lstrip", "partition", "removeprefix",
    "removesuffix", "rfind", "rindex", "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith",
    "strip", "swapcase", "title", "upper",
})
# Template constructs that call, include or import further templates, or switch escaping off: a
# recursion of the first is exponential in the template's length, a block called again through
# `self` from inside a loop escapes the nesting check, and the last would put visitors' names
# into HTML unescaped. No mail needs them.
FORBIDDEN_NODES = (
    nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends, nodes.Block,
    nodes.ScopedEvalContextModifier, nodes.EvalContextModifier,
)
_NODE_NAMES = {nodes.ScopedEvalContextModifier: "autoescape", nodes.EvalContextModifier: "autoescape"}


def _too_large(what: str = "a value") -> SecurityError:
    return SecurityError(f"{what} may have at most {MAX_OUTPUT} characters")


def _weight(value: Any, limit: int = MAX_OUTPUT) -> int:
    """About how many characters `value` has as text, counting what its items hold; counting stops
    past `limit`, so the work is bounded by the limit however the value is nested."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, bool | float) or value is None:
        return 1
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, dict):
        items: Iterable[Any] = (part for pair in value.items() for part in pair)
    elif isinstance(value, list | tuple | set | frozenset | range | KeysView | ValuesView | ItemsView):
        items = value
    else:
        return 1
    total = len(value)
    for item in items:
        if total > limit:
            break
        total += _weight(item, limit - total)
    return total


def _bounded(value: Any, what: str = "a value") -> Any:
    if _weight(value) > MAX_OUTPUT:
        raise _too_large(what)
    return value


def _printed(value: Any) -> Any:
    """What {{ }} prints, checked before it becomes text (a plain string, the usual case, at once)."""
    if value.__class__ is str and len(value) <= MAX_OUTPUT:
        return value
    return _bounded(value)


def _bounded_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise SecurityError(f"range() may produce at most {MAX_RANGE} items")
    return values


def _bounded_filter(filter_function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose arguments and result are each at most MAX_OUTPUT characters (escaping again
    and again would otherwise grow a text five-fold a step)."""

    @functools.wraps(filter_function)  # also copies jinja_pass_arg
    def bounded(*args: Any, **kwargs: Any) -> Any:
        for argument in (*args, *kwargs.values()):
            _bounded(argument)
        return _bounded(filter_function(*args, **kwargs))

    return bounded


def _bounded_replace(environment: Any) -> Any:
    replace = environment.filters["replace"]

    def bounded(eval_ctx: Any, value: Any, old: str, new: str, count: int | None = None) -> Any:
        text, new_text = str(value), str(new)
        matches = text.count(old) if old else len(text) + 1  # '' matches between every character
        if len(text) + matches * len(new_text) > MAX_OUTPUT:
            raise _too_large()
        return replace(eval_ctx, value, old, new, count)

    bounded.jinja_pass_arg = replace.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


def _bounded_join(environment: Any) -> Any:
    join = environment.filters["join"]

    def bounded(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = list(value)  # at most MAX_OUTPUT long: _bounded_filter checked it
        if sum(_weight(item) for item in items) + max(len(items) - 1, 0) * _weight(d) > MAX_OUTPUT:
            raise _too_large()
        return join(eval_ctx, items, d, attribute)

    bounded.jinja_pass_arg = join.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_PRODUCT:
        raise SecurityError("the product is too large")
    for sequence, count in ((left, right), (right, left)):
        if (
            isinstance(sequence, str | list | tuple) and isinstance(count, int)
            and _weight(sequence, MAX_PRODUCT) * count > MAX_PRODUCT
        ):
            raise SecurityError(f"a repetition may produce at most {MAX_PRODUCT} characters")


class BoundedContext(Context):
    """A render's context, with the loop steps it has taken (shared with contexts derived from it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loop_steps = [0]

    def derived(self, locals: dict[str, Any] | None = None) -> Context:
        context = super().derived(locals)
        context.loop_steps = self.loop_steps  # type: ignore[attr-defined]
        return context


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every for-loop counted and every `~` checked before it joins."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        counted = copy.copy(node)
        counted.iter = nodes.Call(
            nodes.EnvironmentAttribute("counted_loop"), [nodes.ContextReference(), node.iter], [], None, None,
            lineno=node.iter.lineno,
        )
        super().visit_For(counted, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat(context, (")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with lists, dicts and sets read-only, `*`, `**`, `+` and `%` checked before
    they run (and so never folded at compile time), and every value and output bounded."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator
    context_class = BoundedContext

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "+" and _weight(left) + _weight(right) > MAX_OUTPUT:
            raise _too_large()
        if operator_name == "*":
            _check_product(left, right)
        if operator_name == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1 and right * max(abs(left).bit_length(), 1) > MAX_PRODUCT:
                raise SecurityError("the power is too large")
            return operator.pow(left, right)
        if operator_name == "%" and isinstance(left, str):  # '%9999999s' % x: a width without bound
            raise SecurityError("formatting with % is not allowed in a template; use ~ and filters")
        return super().call_binop(context, operator_name, left, right)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr not in ALLOWED_STRING_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    @staticmethod
    def concat(pieces: Iterable[str]) -> str:
        """Every join of output (a render's, a {% set %} or {% filter %} block's), stopped as soon as
        it passes MAX_OUTPUT characters."""
        kept, total = [], 0
        for piece in pieces:
            total += len(piece)
            if total > MAX_OUTPUT:
                raise _too_large("a template's output")
            kept.append(piece)
        return "".join(kept)

    @staticmethod
    def bounded_concat(context: Context, parts: tuple[Any, ...]) -> str:
        """`a ~ b`: joined as Jinja joins it, once the parts are known to fit together."""
        if sum(_weight(part) for part in parts) > MAX_OUTPUT:
            raise _too_large()
        return markup_join(parts) if context.eval_ctx.autoescape else str_join(parts)

    @staticmethod
    def counted_loop(context: Context, iterable: Any) -> Iterator[Any]:
        """The items of a for-loop, each counted against the render's MAX_LOOP_STEPS."""
        steps = context.loop_steps  # type: ignore[attr-defined]
        for item in iterable:
            steps[0] += 1
            if steps[0] > MAX_LOOP_STEPS:
                raise SecurityError(f"a template may take at most {MAX_LOOP_STEPS} loop steps")
            yield item


def template_environment(loader: BaseLoader) -> BoundedSandbox:
    """A sandboxed environment over `loader`: autoescape for .html, StrictUndefined, blocks trimmed."""
    environment = BoundedSandbox(
        loader=loader,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        finalize=_printed,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code: no stat of the file on every render (each confirmation
        # is rendered in the API process, beside the registrations the benchmark counts).
        auto_reload=False,
    )
    filters = {name: _bounded_filter(environment.filters[name]) for name in ALLOWED_FILTERS}
    filters["replace"] = _bounded_filter(_bounded_replace(environment))
    filters["join"] = _bounded_filter(_bounded_join(environment))
    environment.filters = filters
    environment.globals = {"range": _bounded_range}
    environment.tests = {name: environment.tests[name] for name in ("defined", "undefined", "none", "number", "string")}
    return environment


def refused_construct(source: nodes.Template) -> tuple[str, int] | None:
    """What a parsed template uses that mails may not (a macro, an include, a block, a recursive
    loop, loops nested too deeply), with its line; None when it uses none. Checked when a staff
    template is saved."""
    for node in source.find_all(FORBIDDEN_NODES):
        name = _NODE_NAMES.get(type(node), type(node).__name__.lower())
        return f"{name} is not allowed in a mail template", node.lineno
    for loop in source.find_all(nodes.For):
        if loop.recursive:
            return "recursive loops are not allowed in a mail template", loop.lineno
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
