"""Each operator action is described once (calls.catalog), and everything reads it there."""

import pytest

from calls import catalog
from calls.models import AuditEntry, Call


def _call(**fields):
    return Call(**{"catapult_id": "c-1", "direction": "in", "state": "started", **fields})


def test_every_action_is_complete():
    for kind in catalog.ACTIONS.values():
        assert kind.label and kind.past and kind.asked and kind.states
        assert kind.confirmed_by is not None, kind.name
        assert isinstance(kind.arguments({"transfer_to": "+19195550100"}), dict)


def test_the_row_buttons_come_from_the_catalog():
    ringing = _call()
    assert [k.name for k in catalog.row_actions(ringing)] == ["answer", "reject", "hangup"]
    active = _call(state="active")
    assert [k.name for k in catalog.row_actions(active)] == ["hangup"]
    assert catalog.row_actions(_call(state="completed")) == []


def test_the_audit_label_and_the_timeline_words_come_from_the_catalog():
    from calls.timeline import action_sentence

    entry = AuditEntry(action="record_on", username="otto", outcome="accepted")
    assert entry.action_label == "Start recording"
    assert action_sentence(entry) == "otto asked to start recording: the API accepted"
    assert AuditEntry(action="place_call").action_label == "Place call"


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("answer", {}, {"state": "active"}),
        ("hangup", {}, {"state": "completed"}),
        ("record_on", {}, {"recording_enabled": True, "recording_file_format": "wav"}),
        (
            "transfer",
            {"transfer_to": "+19195550100", "whisper_sentence": "hi"},
            {
                "state": "transferring",
                "transfer_to": "+19195550100",
                "transfer_caller_id": None,
                "whisper_audio": {"sentence": "hi"},
            },
        ),
    ],
)
def test_what_each_action_sends(name, params, expected):
    assert catalog.ACTIONS[name].arguments(params) == expected


def test_why_an_action_is_not_offered():
    outbound = Call(catapult_id="c-2", direction="out", state="started")
    assert catalog.ACTIONS["answer"].why_not(outbound) == "Only incoming calls can be answered."
    done = _call(state="completed")
    assert catalog.ACTIONS["hangup"].why_not(done) == "The call is completed: it cannot be hung up."
