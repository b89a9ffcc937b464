"""The sign-in form: says, after a failure, how many tries are left before the
lockout (unionfunds.lockout), so nobody is locked out by surprise. The
change-password page: where a temporary password is replaced."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from unionfunds import accounts, services
from unionfunds.lockout import tries_left

SAME_PASSWORD = _("Choose a password other than the one you have now.")


class SignInForm(AuthenticationForm):
    tries_left: int | None = None

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            # django-axes has counted this failure by now (user_login_failed).
            self.tries_left = tries_left(self.request, self.cleaned_data.get("username"))
            raise


def note_temporary_password(sender, request, user, **kwargs) -> None:
    """At sign-in (`user_logged_in`): remember in the session whether the
    password is a temporary one (`TemporaryPasswordMiddleware`)."""
    if request is not None and hasattr(request, "session") and accounts.must_change_password(user):
        request.session[accounts.SESSION_FLAG] = True


class NewPasswordForm(PasswordChangeForm):
    def clean(self):
        cleaned = super().clean()
        old, new = cleaned.get("old_password"), cleaned.get("new_password1")
        if old and new and old == new:
            self.add_error("new_password1", SAME_PASSWORD)
        return cleaned


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = NewPasswordForm

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "temporary": self.request.session.get(accounts.SESSION_FLAG)}

    def form_valid(self, form):
        response = super().form_valid(form)
        services.password_chosen(user=form.user)
        self.request.session.pop(accounts.SESSION_FLAG, None)
        return response
