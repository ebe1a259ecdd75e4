"""Refusing passwords that attackers try first (NIST SP 800-63B §3.1.1.2: check new passwords
against "passwords obtained from previous breach corpuses" and "repetitive or sequential
characters"). The list ships with the project: data/common_passwords.txt."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

LIST_PATH = Path(__file__).with_name("data") / "common_passwords.txt"
_EDGE_NOISE = re.compile(r"^[\d\W_]+|[\d\W_]+$")  # "!!password123" is "password" to a cracker
SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")


@cache
def common_passwords() -> frozenset[str]:
    lines = LIST_PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_common_password(password: str) -> bool:
    """True for a listed password, a listed one with digits or symbols around it, with spaces
    removed, or repeated ("passwordpassword"), and for runs like "aaaa…" or "1234…"."""
    lowered = password.lower()
    candidates = {lowered, lowered.replace(" ", ""), _EDGE_NOISE.sub("", lowered), _repeated_unit(lowered)}
    listed = common_passwords()
    if any(len(c) >= 4 and c in listed for c in candidates):
        return True
    if lowered.isdigit() and any(lowered[:n] in listed for n in range(6, len(lowered))):
        return True  # "123456789012": a listed number run on
    return _is_run(lowered)


def _repeated_unit(value: str) -> str:
    """"abcabcabc" → "abc"; a value that is no repetition comes back as it is."""
    for size in range(1, len(value) // 2 + 1):
        if len(value) % size == 0 and value[:size] * (len(value) // size) == value:
            return value[:size]
    return value


def _is_run(value: str) -> bool:
    if len(_repeated_unit(value)) <= 3:
        return True
    return any(value in sequence or value in sequence[::-1] for sequence in SEQUENCES)
