"""The dispute page's action forms, each with its one-time idempotency key."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django import forms

from payments.models import Dispute, DisputeParty

NOTE_MAX = 2000


class ActionForm(forms.Form):
    """The base of every action form: the one-time key, bound to this dispute and action."""

    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=255)

    def __init__(self, *args: Any, dispute: Dispute, kind: str, **kwargs: Any) -> None:
        self.dispute = dispute
        self.kind = kind
        kwargs.setdefault("prefix", kind)
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["idempotency_key"] = new_key(dispute, kind)

    def clean_idempotency_key(self) -> str:
        key = self.cleaned_data["idempotency_key"]
        pattern = rf"admin:{re.escape(str(self.dispute.pk))}:{re.escape(self.kind)}:[0-9a-f]{{32}}"
        if not re.fullmatch(pattern, key):
            raise forms.ValidationError("This form is not for this action; reload the page.")
        return key


def new_key(dispute: Dispute, kind: str) -> str:
    return f"admin:{dispute.pk}:{kind}:{secrets.token_hex(16)}"


def _note(required: bool = False, label: str = "Note") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


def _minor(label: str, minimum: int = 0, required: bool = True) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, min_value=minimum, max_value=2**62, initial=0, required=required
    )


class FullRefundForm(ActionForm):
    note = _note()


class PartialRefundForm(ActionForm):
    """The parts left empty are 0; at least one must be more."""

    PARTS = ("value_minor", "fee_minor", "tip_minor")
    value_minor = _minor("Parcel value", required=False)
    fee_minor = _minor("Delivery fee", required=False)
    tip_minor = _minor("Tip", required=False)
    note = _note()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in self.PARTS:
            if name not in self.errors and data.get(name) is None:
                data[name] = 0
        if not self.errors and sum(data[name] for name in self.PARTS) == 0:
            raise forms.ValidationError("Refund more than 0 in at least one part.")
        return data


class AmountForm(ActionForm):
    amount_minor = _minor("Amount", minimum=1)
    note = _note()


class RejectForm(ActionForm):
    reason = _note(required=True, label="Reason")


class RequestInfoForm(ActionForm):
    party = forms.ChoiceField(label="Ask")
    message = _note(required=True, label="Message")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parties = [DisputeParty.SHOP, DisputeParty.RECIPIENT]
        if self.dispute.job.courier_id is not None:
            parties.append(DisputeParty.COURIER)
        self.fields["party"].choices = [(party.value, party.label) for party in parties]


class ConfirmForm(ActionForm):
    """Nothing to fill in: the key alone."""
