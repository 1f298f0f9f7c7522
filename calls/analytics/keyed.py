"""The overview filtered by a number or a tag, counted from KeyedRollup.

A tag filter matches a call's one tag, so the calls it selects are exactly the KeyedRollup
rows of the tags it matches (RollupKey maps each key to its text; the match is the calls
list's own lookup, run on those few rows).

A number filter matches a call when either party matches. Each call is counted under its
own number (the account's side), so the calls a number filter selects are:

- those whose own number matches: the KeyedRollup rows of the matching own numbers;
- plus those whose other party matches and own number does not: from the calls. For
  one of the account's own numbers these are a handful (calls between two of its
  numbers); PostgreSQL finds them through an index on the other party's reversed
  digits, never walking the hundreds of thousands of calls of the own number.

That index serves "ends with" (and so any full number typed) and "exactly"; a number
filter of another mode, a filter of anything else, or a number and a tag together are
counted from the calls, as before.

The same split finds a plan's newest calls (the Overview's top callers): each tag's newest
calls along the tag index, each own number's along the digits index of its side, both
holding the two numbers, so nothing is walked past and no row is fetched from the table
(PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from calls.analytics.rollups import Keyed
from calls.analytics.triggers import KEY_TEXT_MAX, OWN_DIGITS, REMOTE_DIGITS_REV
from calls.filters import ROLLUP_FILTERS, CallFilterForm
from calls.models import RollupKey

_OWN_REV = OWN_DIGITS.format(p="").replace("_digits", "_digits_rev")
# A tag this long has an entry in the tag index (a longer one is keyed by its md5, and
# read the slow way: an index entry has a size limit).
_TAG_INDEXED = f"tag <> '' AND length(tag) <= {KEY_TEXT_MAX}"

# A tag's newest calls, with what top callers read of them (PostgreSQL only, migration
# 0010): a member query must say the index's WHERE as written here for the planner to
# use it. An own number's newest calls come from the digits indexes, which carry the
# same columns (Call.Meta).
TAG_INDEX = (
    "call_tag_newest",
    f"(tag, start_time DESC) INCLUDE (direction, from_number, to_number) WHERE {_TAG_INDEXED}",
)
# More keys than this (a filter matching many numbers or tags) walk the start-time index.
MEMBERS_MAX = 20


@dataclass(frozen=True)
class Plan:
    keyed: Keyed  # (kind, keys) of the KeyedRollup rows to read
    # The calls to count besides those rows (other party matches, own number does not).
    also: Q | None = None
    # Every key has an entry in its newest-calls index (false for a long tag).
    indexed: bool = True


def newest_members(plan: Plan | None) -> list[Q] | None:
    """The plan's calls as disjoint parts, each of which PostgreSQL reads newest first
    along an index: one per tag; two per own number (a side each) and the other-party
    matches. None when the plan has no such parts (too many keys, a long tag)."""
    if plan is None or not plan.indexed:
        return None
    kind, keys = plan.keyed
    if len(keys) > MEMBERS_MAX:
        return None
    if kind == "tag":
        indexed = Q(RawSQL(_TAG_INDEXED, [], output_field=BooleanField()))  # noqa: S611
        return [Q(tag=key) & indexed for key in keys]
    members = [plan.also]
    for key in keys:  # the own number is the caller of an outbound call, else the callee
        members += [Q(from_digits=key, direction="out"), Q(to_digits=key) & ~Q(direction="out")]
    return members


def plan(form: CallFilterForm) -> Plan | None:
    """How to count the form's calls from KeyedRollup; None when it cannot."""
    data = form.cleaned_data
    extra = {k for k, v in data.items() if k not in ROLLUP_FILTERS and v not in (None, "", "auto")}
    if extra == {"tag"}:
        found = RollupKey.objects.filter(kind="tag", text__icontains=data["tag"])
        pairs = list(found.values_list("key", "text"))
        return Plan(
            ("tag", [key for key, _ in pairs]),
            indexed=all(len(text) <= KEY_TEXT_MAX for _, text in pairs),
        )
    if extra != {"q"}:
        return None
    query = form.number_query()
    if query is None or not query.on_digits or query.mode not in ("suffix", "exact"):
        return None
    rev = query.text[::-1]
    if query.mode == "exact":
        keys = RollupKey.objects.filter(kind="own", text=query.text)
        remote = RawSQL(f"({REMOTE_DIGITS_REV}) = %s", [rev], output_field=BooleanField())  # noqa: S611
        own = RawSQL(f"({_OWN_REV}) = %s", [rev], output_field=BooleanField())  # noqa: S611
    else:
        keys = RollupKey.objects.filter(kind="own", text__endswith=query.text)
        # Digits only: no LIKE wildcard can be in the pattern.
        pattern = [rev + "%"]
        remote = RawSQL(f"({REMOTE_DIGITS_REV}) LIKE %s", pattern, output_field=BooleanField())  # noqa: S611
        own = RawSQL(f"({_OWN_REV}) LIKE %s", pattern, output_field=BooleanField())  # noqa: S611
    return Plan(("own", list(keys.values_list("key", flat=True))), Q(remote) & ~Q(own))
