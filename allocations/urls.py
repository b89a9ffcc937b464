from django.urls import path, re_path

from allocations.views import approvals, archive_sheets, entries, home, imports, lists, notices, people, rollup
from allocations.views.funds import fund_detail

urlpatterns = [
    path("", home.home, name="home"),
    path("beneficiaries/<int:pk>/", people.beneficiary_detail, name="beneficiary"),
    path("rollup/", rollup.rollup_page, name="rollup_home"),
    path("rollup/<int:federation_id>/", rollup.rollup_page, name="rollup"),
    path("rollup/<int:federation_id>/export.<str:extension>", rollup.rollup_export, name="rollup_export"),
    path("rollup/<int:federation_id>/<slug:figure>/", rollup.rows_behind_page, name="rows_behind"),
    re_path(
        r"^rollup/(?P<federation_id>[0-9]+)/(?P<figure>[-a-zA-Z0-9_]+)/"
        r"(?P<kind>contributions|allocations|disbursements|funds)/export\.(?P<extension>xlsx|csv)$",
        rollup.rows_behind_export,
        name="rows_behind_export",
    ),
    path("entries/new/contribution/", entries.contribution_new, name="contribution_new"),
    path("entries/new/allocation/", entries.allocation_new, name="allocation_new"),
    path("entries/new/disbursement/", entries.disbursement_new, name="disbursement_new"),
    path("entries/<slug:kind>/<int:pk>/", entries.entry_detail, name="entry"),
    path("entries/<slug:kind>/<int:pk>/edit/", entries.entry_edit, name="entry_edit"),
    path("entries/<slug:kind>/<int:pk>/decide/", entries.entry_decide, name="entry_decide"),
    path("approvals/", approvals.approval_queue, name="approvals"),
    path("mine/", home.my_entries, name="my_entries"),
    path("notifications/", notices.notification_list, name="notifications"),
    path("notifications/read/", notices.notifications_read, name="notifications_read"),
    path("notifications/<int:pk>/open/", notices.notification_open, name="notification_open"),
    path("funds/<int:pk>/", fund_detail, name="fund"),
    re_path(r"^(?P<kind>funds|contributions|allocations|disbursements|beneficiaries)/$", lists.entry_list, name="list"),
    re_path(
        r"^(?P<kind>funds|contributions|allocations|disbursements|beneficiaries)/export\.(?P<extension>xlsx|csv)$",
        lists.list_export,
        name="list_export",
    ),
    path("disbursements/import/", imports.list_import, name="list_import"),
    path("disbursements/import/template.<str:extension>", imports.list_template, name="list_template"),
    path("archive/import/", archive_sheets.household_import, name="household_import"),
    path("archive/import/template.xlsx", archive_sheets.household_template, name="household_template"),
    path("archive/import/<int:pk>/", archive_sheets.household_job, name="job_households"),
    path("archive/import/<int:pk>/fix/", archive_sheets.household_job_fix, name="job_households_fix"),
    path("archive/import/<int:pk>/confirm/", archive_sheets.household_job_confirm, name="job_households_confirm"),
    re_path(
        r"^archive/export\.(?P<extension>xlsx|csv)$", lists.list_export, {"kind": "archive"}, name="archive_export"
    ),
    path("jobs/", imports.job_list, name="jobs"),
    path("jobs/<int:pk>/", imports.job_detail, name="job"),
    path("jobs/<int:pk>/progress/", imports.job_progress, name="job_progress"),
    path("jobs/<int:pk>/fix/", imports.job_fix, name="job_fix"),
    path("jobs/<int:pk>/confirm/", imports.job_confirm, name="job_confirm"),
    path("jobs/<int:pk>/download/", imports.job_download, name="job_download"),
    path("approvals/decide/", approvals.approval_decide, name="approvals_decide"),
    path("disbursements/lists/<int:pk>/", approvals.payment_list_detail, name="payment_list"),
    path("disbursements/lists/<int:pk>/decide/", approvals.payment_list_decide, name="payment_list_decide"),
    path("federations/search/", entries.federation_search, name="federation_search"),
    path("funds/search/", entries.fund_search, name="fund_search"),
    path("beneficiaries/check/", entries.id_number_check, name="id_number_check"),
    path("amounts/capitals/", entries.amount_capitals, name="amount_capitals"),
]
