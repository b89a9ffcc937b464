"""The sign-in form: says, after a failure, how many tries are left before the
lockout (unionfunds.lockout), so nobody is locked out by surprise."""

from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from unionfunds.lockout import tries_left


class SignInForm(AuthenticationForm):
    tries_left: int | None = None

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            # django-axes has counted this failure by now (user_login_failed).
            self.tries_left = tries_left(self.request, self.cleaned_data.get("username"))
            raise
