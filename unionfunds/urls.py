from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from unionfunds import health
from unionfunds.signin import PasswordChangeView, SignInForm

admin.site.site_header = admin.site.site_title = settings.UNIONFUNDS_SITE_TITLE
admin.site.index_title = settings.UNIONFUNDS_SITE_TITLE

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    # Sign-in, sign-out and password change only. No self-service password reset: no
    # mail is set up and the reset form would be an unthrottled probe of addresses;
    # a forgotten password is reset by the federation's administrator (docs/DEPLOY.md).
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("allocations.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("unionfunds.api_urls")),
]
