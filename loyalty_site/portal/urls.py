from django.urls import path

from loyalty_site.portal.views import (
    account,
    card,
    dashboard,
    giving,
    links,
    notifications,
    profile,
    referrals,
    rewards,
    shared_account,
    shared_account_members,
    unsubscribe,
)

app_name = "portal"

urlpatterns = [
    path("r/<str:code>/", account.ReferralView.as_view(), name="referral"),
    path("portal/", dashboard.DashboardView.as_view(), name="dashboard"),
    path("portal/history/", dashboard.HistoryView.as_view(), name="history"),
    path("portal/rewards/", rewards.RewardsView.as_view(), name="rewards"),
    path("portal/rewards/<int:pk>/redeem/", rewards.RedeemView.as_view(), name="redeem"),
    path("portal/vouchers/<int:pk>/", rewards.RedemptionView.as_view(), name="redemption"),
    path(
        "portal/vouchers/<int:pk>/cancel/",
        rewards.RedemptionCancelView.as_view(),
        name="redemption_cancel",
    ),
    path("portal/referrals/", referrals.ReferralsView.as_view(), name="referrals"),
    path(
        "portal/shared-account/",
        shared_account.SharedAccountView.as_view(),
        name="shared_account",
    ),
    path(
        "portal/shared-account/leave/",
        shared_account.SharedAccountLeaveView.as_view(),
        name="shared_account_leave",
    ),
    path(
        "portal/shared-account/members/<int:pk>/",
        shared_account_members.SharedAccountMemberView.as_view(),
        name="shared_account_member",
    ),
    path(
        "portal/shared-account/invitations/<int:pk>/",
        shared_account.SharedAccountInvitationView.as_view(),
        name="shared_account_invitation",
    ),
    path("portal/give-points/", giving.GivePointsView.as_view(), name="give_points"),
    path("portal/profile/", profile.ProfileView.as_view(), name="profile"),
    path("portal/profile/preferences/", profile.PreferencesView.as_view(), name="preferences"),
    path("portal/profile/password/", profile.PasswordChangeView.as_view(), name="password_change"),
    path("portal/notifications/", notifications.NotificationsView.as_view(), name="notifications"),
    path("portal/profile/data/", profile.DataExportView.as_view(), name="data_export"),
    path("portal/profile/delete/", profile.DeletionRequestView.as_view(), name="delete_request"),
    path("portal/join/<slug:program>/", account.SignupView.as_view(), name="signup"),
    path("portal/login/", account.LoginView.as_view(), name="login"),
    path("portal/logout/", account.LogoutView.as_view(), name="logout"),
    path("portal/confirm/resend/", account.ConfirmResendView.as_view(), name="confirm_resend"),
    path("portal/confirm/<str:token>/", account.ConfirmView.as_view(), name="confirm"),
    path("portal/password/", account.PasswordResetView.as_view(), name="password_reset"),
    path(
        "portal/password/sent/",
        account.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "portal/password/<uidb64>/<token>/",
        account.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "portal/password/done/",
        account.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("portal/links/", links.LinksView.as_view(), name="links"),
    path("portal/card/", card.CardView.as_view(), name="card"),
    path("portal/card/code/", card.CardCodeView.as_view(), name="card_code"),
    path(
        "portal/unsubscribe/<str:token>/",
        unsubscribe.UnsubscribeView.as_view(),
        name="unsubscribe",
    ),
]
