"""Phone numbers as people type them, reduced to what can be searched."""

import re

_NON_DIGITS = re.compile(r"\D")


def digits(number: str | None) -> str:
    """The digits of a telephone number ('+1 (919) 555-0100' -> '19195550100').

    SIP URIs and other non-numbers give '' so they are never matched by digits:
    'sip:alice@example.com' has no digits worth searching.
    """
    if not number:
        return ""
    text = number.strip().lower()
    if text.startswith(("sip:", "sips:")) or "@" in text:
        return ""
    return _NON_DIGITS.sub("", text)
