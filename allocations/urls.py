from django.urls import path, re_path

from allocations.views import approvals, entries, lists, rollup

urlpatterns = [
    path("rollup/", rollup.rollup_page, name="rollup_home"),
    path("rollup/<int:federation_id>/", rollup.rollup_page, name="rollup"),
    path("rollup/<int:federation_id>/export.<str:extension>", rollup.rollup_export, name="rollup_export"),
    path("rollup/<int:federation_id>/<slug:figure>/", rollup.rows_behind_page, name="rows_behind"),
    path("entries/new/contribution/", entries.contribution_new, name="contribution_new"),
    path("entries/new/allocation/", entries.allocation_new, name="allocation_new"),
    path("entries/new/disbursement/", entries.disbursement_new, name="disbursement_new"),
    path("entries/<slug:kind>/<int:pk>/", entries.entry_detail, name="entry"),
    path("entries/<slug:kind>/<int:pk>/decide/", entries.entry_decide, name="entry_decide"),
    path("approvals/", approvals.approval_queue, name="approvals"),
    re_path(r"^(?P<kind>funds|contributions|allocations|disbursements)/$", lists.entry_list, name="list"),
    path("approvals/decide/", approvals.approval_decide, name="approvals_decide"),
    path("federations/search/", entries.federation_search, name="federation_search"),
    path("beneficiaries/check/", entries.id_number_check, name="id_number_check"),
]
