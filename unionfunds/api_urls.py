"""`/api/v1/`: every resource of API.md, the token endpoint, the schema and its docs.

The `?format=csv|xlsx` spreadsheets need no routes of their own: the lists and
the roll-up answer them (`unionfunds.api.spreadsheets`).
"""

from csp.decorators import csp_update
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from allocations.api import (
    AllocationViewSet,
    ContributionViewSet,
    DisbursementViewSet,
    FundViewSet,
    PaymentListViewSet,
)
from allocations.api_policy import PolicyRuleViewSet
from allocations.api_rollups import ArchiveRollupView, RollupView, rollup_export_view
from beneficiaries.api import BeneficiaryViewSet, UnitViewSet
from beneficiaries.api_archive import ArchiveChangeViewSet, ArchiveEntryViewSet, DibaoLineViewSet, HouseholdViewSet
from unionfunds.api.auth import TokenView
from unionfunds.api.base import NotFoundView
from unionfunds.api.federations import FederationViewSet

app_name = "api"


class Router(DefaultRouter):
    # No format-suffix routes (funds.json): the API takes ?format=, as API.md says.
    include_format_suffixes = False


router = Router()
router.register("federations", FederationViewSet, basename="federation")
router.register("funds", FundViewSet, basename="fund")
router.register("contributions", ContributionViewSet, basename="contribution")
router.register("allocations", AllocationViewSet, basename="allocation")
router.register("disbursements", DisbursementViewSet, basename="disbursement")
router.register("disbursement-lists", PaymentListViewSet, basename="payment-list")
router.register("beneficiaries", BeneficiaryViewSet, basename="beneficiary")
router.register("units", UnitViewSet, basename="unit")
router.register("households", HouseholdViewSet, basename="household")
router.register("archive-entries", ArchiveEntryViewSet, basename="archive-entry")
router.register("archive-changes", ArchiveChangeViewSet, basename="archive-change")
router.register("dibao-lines", DibaoLineViewSet, basename="dibao-line")
router.register("policy-rules", PolicyRuleViewSet, basename="policy-rule")

# The split view loads its start-up script from a URL instead of inlining it, so the
# site's Content-Security-Policy holds; Swagger UI's stylesheet draws icons as data: images.
docs_view = csp_update({"img-src": ["data:"]})(SpectacularSwaggerSplitView.as_view(url_name="api:schema"))

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("rollups/<int:federation_id>/", RollupView.as_view(), name="rollup"),
    path("rollups/<int:federation_id>/archive/", ArchiveRollupView.as_view(), name="rollup-archive"),
    path("rollups/<int:federation_id>/export/xlsx/", rollup_export_view("xlsx").as_view(), name="rollup-export-xlsx"),
    path("rollups/<int:federation_id>/export/csv/", rollup_export_view("csv").as_view(), name="rollup-export-csv"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs_view, name="docs"),
    *router.urls,
    re_path(r"", NotFoundView.as_view()),  # last: whatever else is asked for under /api/v1/
]
