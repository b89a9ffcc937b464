from django.contrib import admin
from django.urls import include, path

from unionfunds import health, views

admin.site.site_header = admin.site.site_title = views.SITE_TITLE
admin.site.index_title = views.SITE_TITLE

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", views.home, name="home"),
    path("", include("allocations.urls")),
    path("", include("beneficiaries.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("unionfunds.api_urls")),
]
