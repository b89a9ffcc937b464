from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from unionfunds import health

admin.site.site_header = admin.site.site_title = settings.UNIONFUNDS_SITE_TITLE
admin.site.index_title = settings.UNIONFUNDS_SITE_TITLE

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("allocations.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("unionfunds.api_urls")),
]
