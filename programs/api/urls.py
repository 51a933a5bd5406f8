"""The engine's routes of the partner API. ``loyalty_site/api_urls.py`` mounts them at
``/api/v1/`` with the surveys' routes and the problem+json fallback for unknown paths."""

from django.urls import path

from programs.api.views.accounts import (
    AccountCloseView,
    AccountDetailView,
    AccountInvitationView,
    AccountListView,
    AccountMemberDetailView,
    AccountMemberListView,
)
from programs.api.views.cards import CardDetailView, CardLinkView
from programs.api.views.holds import (
    HoldCaptureView,
    HoldDetailView,
    HoldVoidView,
    MemberHoldCreateView,
    MemberQuoteView,
)
from programs.api.views.imports import (
    ImportCancelView,
    ImportCommitView,
    ImportCompleteView,
    ImportDetailView,
    ImportErrorsView,
    ImportListView,
    ImportPartView,
)
from programs.api.views.keys import CurrentKeyView
from programs.api.views.members import (
    MemberBalanceView,
    MemberDetailView,
    MemberHistoryView,
    MemberListView,
    MemberReferralView,
)
from programs.api.views.purchase_quotes import PurchaseQuoteView
from programs.api.views.purchases import (
    PurchaseBatchView,
    PurchaseCreateView,
    PurchaseDetailView,
    PurchaseRefundCreateView,
)
from programs.api.views.rewards import (
    MemberActionCreateView,
    MemberRedemptionCreateView,
    MemberRewardsView,
    RedemptionCancelView,
    RedemptionDetailView,
)
from programs.api.views.settlement import SettlementView
from programs.api.views.transfers import TransferListView
from programs.api.views.vouchers import VoucherDetailView, VoucherUseView
from programs.api.views.webhooks import (
    WebhookDetailView,
    WebhookListView,
    WebhookSecretRotateView,
)

urlpatterns = [
    path("keys/current", CurrentKeyView.as_view(), name="key-current"),
    path("members", MemberListView.as_view(), name="member-list"),
    path("members/<str:external_id>", MemberDetailView.as_view(), name="member-detail"),
    path("members/<str:external_id>/balance", MemberBalanceView.as_view(), name="member-balance"),
    path("members/<str:external_id>/history", MemberHistoryView.as_view(), name="member-history"),
    path("members/<str:external_id>/rewards", MemberRewardsView.as_view(), name="member-rewards"),
    path(
        "members/<str:external_id>/redemptions",
        MemberRedemptionCreateView.as_view(),
        name="member-redemptions",
    ),
    path(
        "members/<str:external_id>/actions",
        MemberActionCreateView.as_view(),
        name="member-actions",
    ),
    path(
        "members/<str:external_id>/referral",
        MemberReferralView.as_view(),
        name="member-referral",
    ),
    path("members/<str:external_id>/quotes", MemberQuoteView.as_view(), name="member-quotes"),
    path("members/<str:external_id>/holds", MemberHoldCreateView.as_view(), name="member-holds"),
    path("holds/<int:id>", HoldDetailView.as_view(), name="hold-detail"),
    path("holds/<int:id>/capture", HoldCaptureView.as_view(), name="hold-capture"),
    path("holds/<int:id>/void", HoldVoidView.as_view(), name="hold-void"),
    path("purchases", PurchaseCreateView.as_view(), name="purchase-list"),
    path("purchases/batch", PurchaseBatchView.as_view(), name="purchase-batch"),
    path("purchases/quote", PurchaseQuoteView.as_view(), name="purchase-quote"),
    path("purchases/<int:id>", PurchaseDetailView.as_view(), name="purchase-detail"),
    path(
        "purchases/<int:id>/refunds",
        PurchaseRefundCreateView.as_view(),
        name="purchase-refunds",
    ),
    path("redemptions/<int:id>", RedemptionDetailView.as_view(), name="redemption-detail"),
    path("redemptions/<int:id>/cancel", RedemptionCancelView.as_view(), name="redemption-cancel"),
    path("webhooks", WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<int:id>", WebhookDetailView.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:id>/rotate-secret",
        WebhookSecretRotateView.as_view(),
        name="webhook-rotate-secret",
    ),
    path("cards/<str:number>", CardDetailView.as_view(), name="card-detail"),
    path("cards/<str:number>/link", CardLinkView.as_view(), name="card-link"),
    path("vouchers/<str:code>", VoucherDetailView.as_view(), name="voucher-detail"),
    path("vouchers/<str:code>/use", VoucherUseView.as_view(), name="voucher-use"),
    path("settlement", SettlementView.as_view(), name="settlement"),
    path("imports", ImportListView.as_view(), name="import-list"),
    path("imports/<int:id>", ImportDetailView.as_view(), name="import-detail"),
    path("imports/<int:id>/parts/<int:number>", ImportPartView.as_view(), name="import-part"),
    path("imports/<int:id>/complete", ImportCompleteView.as_view(), name="import-complete"),
    path("imports/<int:id>/errors", ImportErrorsView.as_view(), name="import-errors"),
    path("imports/<int:id>/commit", ImportCommitView.as_view(), name="import-commit"),
    path("imports/<int:id>/cancel", ImportCancelView.as_view(), name="import-cancel"),
    path("accounts", AccountListView.as_view(), name="account-list"),
    path("accounts/<str:account>", AccountDetailView.as_view(), name="account-detail"),
    path(
        "accounts/<str:account>/members",
        AccountMemberListView.as_view(),
        name="account-members",
    ),
    path(
        "accounts/<str:account>/members/<str:external_id>",
        AccountMemberDetailView.as_view(),
        name="account-member-detail",
    ),
    path(
        "accounts/<str:account>/invitations",
        AccountInvitationView.as_view(),
        name="account-invitations",
    ),
    path("accounts/<str:account>/close", AccountCloseView.as_view(), name="account-close"),
    path("transfers", TransferListView.as_view(), name="transfer-list"),
]
