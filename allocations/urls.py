from django.urls import path

from allocations import views

urlpatterns = [
    path("rollup/", views.rollup_page, name="rollup_home"),
    path("rollup/<int:federation_id>/", views.rollup_page, name="rollup"),
    path("rollup/<int:federation_id>/export.<str:extension>", views.rollup_export, name="rollup_export"),
    path("rollup/<int:federation_id>/<slug:figure>/", views.rows_behind_page, name="rows_behind"),
]
