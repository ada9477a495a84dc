"""The one Jinja2 environment factory: transactional mails now, campaign templates next.

Sandboxed (a template is text, not code: campaign templates will be staff input), strict (an
unknown variable is an error, never a silent blank), HTML escaped in `.html` templates only.
"""

from __future__ import annotations

from jinja2 import BaseLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment


def template_environment(loader: BaseLoader) -> SandboxedEnvironment:
    """A sandboxed environment over `loader`: autoescape for .html, StrictUndefined, blocks trimmed."""
    return SandboxedEnvironment(
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
