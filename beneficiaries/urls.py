from django.urls import path

from beneficiaries import views

urlpatterns = [
    path("beneficiaries/<int:pk>/", views.beneficiary_detail, name="beneficiary"),
]
