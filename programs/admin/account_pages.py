"""The shared account admin's extra pages: create an account, add, change and remove
members, invite by e-mail, close. Apart from ``accounts.py`` so the list and change page
stay readable; each page validates a form and calls one service from
``programs.services.accounts``, and a domain error shows on the form."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext_lazy as _

from programs.admin.account_forms import (
    CLOSING_RULE,
    LEAVING_RULE,
    AccountCreateForm,
    CloseForm,
    InviteForm,
    MemberAddForm,
    MemberRemoveForm,
    MemberUpdateForm,
    current_members,
)
from programs.admin.base import EMPTY, add_domain_error, render_form_page
from programs.errors import LoyaltyError
from programs.models import MANAGING, Account, AccountStatus
from programs.services.account_invitations import account_invite
from programs.services.accounts import (
    account_close,
    account_create,
    account_member_add,
    account_member_leave,
    account_member_update,
)
from programs.services.postings import Actor


class AccountPages(admin.ModelAdmin):
    """The operation pages of ``AccountAdmin`` (mixed in before its base class)."""

    def object_tools(self, request, obj):
        if not self.has_operate_permission(request) or obj.status != AccountStatus.ACTIVE:
            return []
        return [
            (_("Add member"), self.admin_url("member_add", obj.pk)),
            (_("Change role or limit"), self.admin_url("member_update", obj.pk)),
            (_("Remove member"), self.admin_url("member_remove", obj.pk)),
            (_("Invite by e-mail"), self.admin_url("invite", obj.pk)),
            (_("Close account"), self.admin_url("close", obj.pk)),
        ]

    def get_urls(self):
        view = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        pages = [
            ("member-add", "member_add", self.member_add_view),
            ("member-update", "member_update", self.member_update_view),
            ("member-remove", "member_remove", self.member_remove_view),
            ("invite", "invite", self.invite_view),
            ("close", "close", self.close_view),
        ]
        return [
            *(
                path(f"<path:object_id>/{url}/", view(page), name=f"{info}_{name}")
                for url, name, page in pages
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        """Creating an account is ``account_create``: its balance, and the manager."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AccountCreateForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                account = account_create(
                    program=data["program"],
                    kind=data["kind"],
                    name=data["name"],
                    manager=data["manager"],
                    vat_id=data["vat_id"],
                    street=data["street"],
                    postal_code=data["postal_code"],
                    city=data["city"],
                    country=data["country"] or "DE",
                    requires_po_reference=data["requires_po_reference"],
                )
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                self.log_addition(request, account, [{"added": {}}])
                self.message_user(request, _("The shared account was created."), messages.SUCCESS)
                return redirect(self.admin_url("change", account.pk))
        return render_form_page(
            self,
            request,
            form=form,
            title=_("Create a shared account"),
            submit_label=_("Create"),
            intro=_(
                "The account gets a balance of its own. In a program that pools, its members' "
                "purchases earn into it from the moment they join."
            ),
        )

    def _active(self, request, object_id) -> Account:
        account = self.operated_object(request, object_id)
        if account.status != AccountStatus.ACTIVE:
            raise PermissionDenied
        return account

    def _done(self, request, account: Account, message: str, log: str):
        self.log_change(request, account, log)
        self.message_user(request, message, messages.SUCCESS)
        return redirect(self.admin_url("change", account.pk))

    def member_add_view(self, request, object_id):
        account = self._active(request, object_id)
        form = MemberAddForm(request.POST if request.method == "POST" else None, account=account)
        if form.is_valid():
            membership = form.cleaned_data["member"]
            try:
                account_member_add(
                    account=account,
                    membership=membership,
                    role=form.cleaned_data["role"],
                    monthly_limit=form.cleaned_data["monthly_limit"],
                )
            except LoyaltyError as error:
                add_domain_error(form, error, fields_by_code={"program_mismatch": "member"})
            else:
                who = str(membership.customer)
                return self._done(
                    request,
                    account,
                    _("%(member)s is now a member of the account.") % {"member": who},
                    _("Member added: %(member)s") % {"member": who},
                )
        return render_form_page(
            self,
            request,
            form=form,
            obj=account,
            title=_("Add member"),
            submit_label=_("Add"),
            intro=_(
                "In a program that pools, the member's purchases earn into the account from "
                "now on; the points they have stay on their own membership."
            ),
        )

    def _member_initial(self, request, account: Account) -> dict:
        member = current_members(account).filter(pk=request.GET.get("member") or None).first()
        if member is None:
            return {}
        return {"member": member, "role": member.role, "monthly_limit": member.monthly_limit}

    def member_update_view(self, request, object_id):
        account = self._active(request, object_id)
        form = MemberUpdateForm(
            request.POST if request.method == "POST" else None,
            account=account,
            initial=self._member_initial(request, account),
        )
        if form.is_valid():
            member = form.cleaned_data["member"]
            try:
                account_member_update(
                    member=member,
                    role=form.cleaned_data["role"],
                    monthly_limit=form.cleaned_data["monthly_limit"],
                )
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                who = str(member.membership.customer)
                return self._done(
                    request,
                    account,
                    _("The member %(member)s was changed.") % {"member": who},
                    _("Member changed: %(member)s") % {"member": who},
                )
        return render_form_page(
            self,
            request,
            form=form,
            obj=account,
            title=_("Change role or limit"),
            submit_label=_("Save"),
            intro=_("An account keeps at least one member who manages it."),
        )

    def member_remove_view(self, request, object_id):
        account = self._active(request, object_id)
        form = MemberRemoveForm(
            request.POST if request.method == "POST" else None,
            account=account,
            initial=self._member_initial(request, account),
        )
        if form.is_valid():
            member = form.cleaned_data["member"]
            try:
                account_member_leave(member=member)
            except LoyaltyError as error:
                add_domain_error(form, error, fields_by_code={"account_role_refused": "member"})
            else:
                who = str(member.membership.customer)
                return self._done(
                    request,
                    account,
                    _("%(member)s has left the account.") % {"member": who},
                    _("Member removed: %(member)s") % {"member": who},
                )
        return render_form_page(
            self,
            request,
            form=form,
            obj=account,
            title=_("Remove member"),
            submit_label=_("Remove"),
            intro=LEAVING_RULE,
        )

    def invite_view(self, request, object_id):
        account = self._active(request, object_id)
        form = InviteForm(request.POST if request.method == "POST" else None, account=account)
        if form.is_valid():
            email = form.cleaned_data["email"]
            try:
                account_invite(account=account, email=email, role=form.cleaned_data["role"])
            except LoyaltyError as error:
                add_domain_error(
                    form, error, fields_by_code={"account_membership_conflict": "email"}
                )
            else:
                return self._done(
                    request,
                    account,
                    _("The invitation to %(email)s is on its way.") % {"email": email},
                    _("Invited: %(email)s") % {"email": email},
                )
        return render_form_page(
            self,
            request,
            form=form,
            obj=account,
            title=_("Invite by e-mail"),
            submit_label=_("Send invitation"),
            intro=_(
                "The invited person confirms in the customer portal, signed in with this "
                "address; they are enrolled in the program if need be."
            ),
        )

    def close_view(self, request, object_id):
        account = self._active(request, object_id)
        holder = account.holder
        manager = (
            current_members(account).filter(role__in=MANAGING).first() if holder.balance else None
        )
        form = CloseForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                account_close(
                    account=account,
                    actor=Actor.for_staff(request.user),
                    note=form.cleaned_data["note"],
                )
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                return self._done(
                    request,
                    account,
                    _("The account was closed."),
                    _("Closed: %(note)s") % {"note": form.cleaned_data["note"] or EMPTY},
                )
        figures = _(
            "Now: %(balance)s points available, %(held)s held by a partner, %(pending)s "
            "pending, a debt of %(debt)s."
        ) % {
            "balance": holder.balance,
            "held": holder.held,
            "pending": holder.pending,
            "debt": holder.debt,
        }
        if manager is not None:
            figures += " " + _("The points go to %(member)s.") % {
                "member": manager.membership.customer
            }
        return render_form_page(
            self,
            request,
            form=form,
            obj=account,
            title=_("Close account"),
            submit_label=_("Close account"),
            intro=f"{CLOSING_RULE} {figures}",
        )
