"""Text from models, runtimes and files, made safe to print on a terminal.

Model output is untrusted: an escape sequence in it could clear the screen, retitle the
window, hide text or forge a prompt. :func:`for_terminal` shows every control character
visibly instead (``ESC`` as ``\\x1b``), keeping newlines and tabs, and shows the Unicode
bidirectional overrides that can reorder what is displayed (``\\u202e``) and lone surrogates
(arguments that were not UTF-8), which a terminal cannot encode. ``--json`` output is
not passed through here: it carries the text verbatim, JSON-escaped.
"""

from __future__ import annotations

import re

from rich.markup import escape

__all__ = ["for_terminal", "markup_safe"]

_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def for_terminal(text: str) -> str:
    """``text`` with control characters (all but newline and tab) and bidi controls escaped."""
    return _UNSAFE.sub(_show, text)


def markup_safe(text: str) -> str:
    """:func:`for_terminal`, and Rich markup escaped too, for text placed inside markup."""
    return escape(for_terminal(text))
