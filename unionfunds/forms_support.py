"""What the browser forms share: service refusals shown next to their fields,
and submissions that happen once however often the button is pressed."""

import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from unionfunds.models import IdempotencyKey


class OnceForm(forms.Form):
    """A form whose hidden key makes a second submission a no-op."""

    submission = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("submission", uuid.uuid4())


def show_refusal(form: forms.Form, error: ValidationError, *, fields_by_code: dict[str, str] | None = None) -> None:
    """Put a service's refusal next to the field it names, or above the form.
    `fields_by_code` puts a refusal next to the field that answers it instead
    (a duplicate payment beside the box that confirms it)."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            for one in errors:
                answered_by = (fields_by_code or {}).get(one.code or "", field)
                form.add_error(answered_by if answered_by in form.fields else None, one)
    else:
        form.add_error(None, error)


def submit_once(request, submission, make) -> str | None:
    """Run `make()` (which writes and returns where to go next) once per
    submission key; a repeated submission gets the first answer's address.
    A refusal rolls the key back with everything else, so the user can retry."""
    if not submission:
        return make()
    form = IdempotencyKey.Door.FORM
    with transaction.atomic():
        try:
            with transaction.atomic():
                claimed = IdempotencyKey.objects.create(
                    user=request.user, door=form, key=submission, fingerprint="form"
                )
        except IntegrityError:
            earlier = IdempotencyKey.objects.get(user=request.user, door=form, key=submission)
            return (earlier.response or {}).get("location")
        location = make()
        claimed.status_code = 302
        claimed.response = {"location": location}
        claimed.save(update_fields=["status_code", "response"])
        return location
