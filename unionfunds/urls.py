from django.contrib import admin
from django.urls import include, path

from unionfunds import views

admin.site.site_header = admin.site.site_title = views.SITE_TITLE
admin.site.index_title = views.SITE_TITLE

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", views.home, name="home"),
    path("", include("allocations.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("unionfunds.api_urls")),
]
