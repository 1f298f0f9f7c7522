"""Phone numbers as people type them: normalising, matching, formatting, highlighting."""

import re
from dataclasses import dataclass

import phonenumbers
from django.db.models import Q
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_NON_DIGITS = re.compile(r"\D")
# A full national number: from this many digits on, "auto" matches the end of numbers,
# so "(919) 555-0100" finds +19195550100 whatever country code was or was not typed.
NATIONAL_DIGITS = 10
MATCH_MODES = ("auto", "contains", "prefix", "suffix")


def is_sip(text: str) -> bool:
    text = text.strip().lower()
    return text.startswith(("sip:", "sips:")) or "@" in text


def digits(number: str | None) -> str:
    """The digits of a telephone number ('+1 (919) 555-0100' -> '19195550100').

    SIP URIs give '': 'sip:alice@example.com' has no digits worth searching.
    """
    if not number or is_sip(number):
        return ""
    return _NON_DIGITS.sub("", number)


def readable(number: str) -> str:
    """A number as people of its country write it, with its country code:
    '+19195550100' -> '+1 (919) 555-0100', '+442079460000' -> '+44 20 7946 0000'.
    SIP URIs and what is not a possible number are shown as they are."""
    if not number or not number.startswith("+"):
        return number or ""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    national = str(parsed.national_number)
    if parsed.country_code == 1 and len(national) == 10:  # the NANP's own convention
        return f"+1 ({national[:3]}) {national[3:6]}-{national[6:]}"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def to_e164(text: str, region: str = "") -> str | None:
    """A valid number in E.164 form, from international or (with `region`) national input;
    None when it is not a number of any country ('+1000555010' is not)."""
    try:
        parsed = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class NumberQuery:
    text: str  # what is matched: digits, or lower-cased text for SIP/other
    mode: str  # contains / prefix / suffix / exact
    on_digits: bool

    def q(self) -> Q:
        """A filter matching either party of a call."""
        if self.on_digits:
            if self.mode == "exact":  # the number page's own match: the digits indexes
                return Q(from_digits=self.text) | Q(to_digits=self.text)
            if self.mode == "suffix":
                # Served by the reversed-digits columns' prefix index.
                rev = self.text[::-1]
                return Q(from_digits_rev__startswith=rev) | Q(to_digits_rev__startswith=rev)
            lookup = "contains" if self.mode == "contains" else "startswith"
            return Q(**{f"from_digits__{lookup}": self.text}) | Q(
                **{f"to_digits__{lookup}": self.text}
            )
        lookup = {
            "contains": "icontains",
            "prefix": "istartswith",
            "suffix": "iendswith",
            "exact": "iexact",
        }[self.mode]
        return Q(**{f"from_number__{lookup}": self.text}) | Q(**{f"to_number__{lookup}": self.text})

    def explanation(self) -> str:
        what = "numbers" if self.on_digits else "addresses"
        shown = self.text
        verb = {
            "contains": "containing",
            "prefix": "starting with",
            "suffix": "ending in",
            "exact": "exactly",
        }[self.mode]
        return f"Calls from or to {what} {verb} {shown}"

    def span(self, number: str) -> tuple[int, int] | None:
        """Where in `number` the match is, as (start, end) character offsets."""
        if self.on_digits:
            haystack = digits(number)
            if not haystack:
                return None
            index = _find(haystack, self.text, self.mode)
            if index is None:
                return None
            positions = [i for i, ch in enumerate(number) if ch.isdigit()]
            return positions[index], positions[index + len(self.text) - 1] + 1
        index = _find(number.lower(), self.text, self.mode)
        return None if index is None else (index, index + len(self.text))


def _find(haystack: str, needle: str, mode: str) -> int | None:
    if mode == "exact":
        return 0 if haystack == needle else None
    if mode == "prefix":
        return 0 if haystack.startswith(needle) else None
    if mode == "suffix":
        return len(haystack) - len(needle) if haystack.endswith(needle) else None
    index = haystack.find(needle)
    return None if index < 0 else index


def parse_query(raw: str, mode: str = "auto") -> NumberQuery | None:
    """Understand what was typed in the search box; None when there is nothing to match."""
    text = raw.strip()
    if not text:
        return None
    if is_sip(text) or not _NON_DIGITS.sub("", text):
        # SIP URI or a name: match the addresses as text ('sip:' typed or not).
        needle = text.lower()
        if needle.startswith("sip:") and mode in ("auto", "contains"):
            needle = needle[4:]
        return NumberQuery(needle, "contains" if mode == "auto" else mode, on_digits=False)
    number = _NON_DIGITS.sub("", text)
    if mode == "auto":
        if len(number) >= NATIONAL_DIGITS:
            return NumberQuery(number[-NATIONAL_DIGITS:], "suffix", on_digits=True)
        return NumberQuery(number, "contains", on_digits=True)
    return NumberQuery(number, mode, on_digits=True)


def highlight(number: str, query: NumberQuery | None) -> SafeString:
    """The readable number with the matched part in <mark>, HTML-escaped."""
    shown = readable(number)
    span = query.span(shown) if query else None
    if span is None:
        return escape(shown)
    start, end = span
    return mark_safe(  # noqa: S308 - every piece is escaped
        f"{escape(shown[:start])}<mark>{escape(shown[start:end])}</mark>{escape(shown[end:])}"
    )
