"""Checks on text that came from outside: what cannot be stored or compared as typed. Pure."""

from __future__ import annotations

import re

# U+FFFD is what a decoder leaves for undecodable bytes (forms, files); a lone surrogate
# (U+D800–U+DFFF) is what surrogateescape leaves (click's arguments) or what a JSON "\ud800"
# escape decodes to. Neither is text: UTF-8 cannot encode a surrogate, so storing, hashing or
# printing one fails far from where it came in.
_UNREADABLE = re.compile("[\ud800-\udfff\ufffd]")


def has_unreadable_characters(value: str) -> bool:
    """True if `value` holds a replacement character or a lone surrogate."""
    return _UNREADABLE.search(value) is not None
