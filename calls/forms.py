"""Forms of the operator actions (the call filters are in filters.py)."""

import re

from django import forms
from django.conf import settings
from django.core.validators import URLValidator

from calls.numbers import to_e164

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SIP_URI = re.compile(r"^sip:[^@\s]+@[^@\s]+$", re.IGNORECASE)


def clean_number(value: str, *, allow_sip: bool) -> str:
    """A valid number of any country, as E.164 (written any way: '+44 20 7946 0000', or
    national like '(919) 555-0100' in the DEFAULT_REGION), or, where allowed, a SIP URI."""
    text = value.strip()
    if allow_sip and SIP_URI.match(text):
        return text
    number = to_e164(text, settings.DEFAULT_REGION) if len(text) <= 40 else None
    if number and E164.match(number):
        return number
    hint = " or a SIP URI like sip:alice@example.com" if allow_sip else ""
    raise forms.ValidationError(
        f"Enter a valid phone number, like +19195550100 or +44 20 7946 0000{hint}."
    )


class RecordingForm(forms.Form):
    recording_file_format = forms.ChoiceField(
        label="Format", choices=[("wav", "WAV"), ("mp3", "MP3")], required=False
    )


class TransferForm(forms.Form):
    transfer_to = forms.CharField(label="Transfer to", max_length=255)
    transfer_caller_id = forms.CharField(
        label="Caller id",
        max_length=32,
        required=False,
        help_text="'private', the call's own number, or one of the account's numbers.",
    )
    whisper_sentence = forms.CharField(
        label="Whisper to the new party", max_length=1000, required=False
    )

    def clean_transfer_to(self):
        return clean_number(self.cleaned_data["transfer_to"], allow_sip=True)

    def clean_transfer_caller_id(self):
        value = self.cleaned_data["transfer_caller_id"].strip()
        if not value or value.lower() == "private":
            return value.lower()
        return clean_number(value, allow_sip=False)


class PlaceCallForm(forms.Form):
    from_number = forms.CharField(label="From (an account number)", max_length=32)
    to = forms.CharField(label="To", max_length=255)
    recording_enabled = forms.BooleanField(label="Record the call", required=False)
    recording_file_format = forms.ChoiceField(
        label="Recording format", choices=[("wav", "WAV"), ("mp3", "MP3")], required=False
    )
    callback_url = forms.CharField(label="Callback URL", max_length=1000, required=False)
    tag = forms.CharField(max_length=256, required=False)

    def clean_from_number(self):
        return clean_number(self.cleaned_data["from_number"], allow_sip=False)

    def clean_to(self):
        return clean_number(self.cleaned_data["to"], allow_sip=True)

    def clean_callback_url(self):
        url = self.cleaned_data["callback_url"].strip()
        if url:
            URLValidator(schemes=["http", "https"])(url)
        return url
