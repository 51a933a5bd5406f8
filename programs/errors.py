"""Domain errors: one family, each with a stable machine-readable code.

Services raise these; the API's exception handler and the portal's views translate them
once (HTTP 409/422 with the code, a form error) instead of every caller inventing its own.
"""

from django.utils.translation import gettext_lazy as _


class LoyaltyError(Exception):
    code = "loyalty_error"
    status = 422
    default_message = _("The request could not be carried out.")

    def __init__(self, message=None, **details):
        self.message = message or self.default_message
        self.details = details
        super().__init__(str(self.message))


class MembershipInactive(LoyaltyError):
    code = "membership_inactive"
    default_message = _("This membership is not active.")


class InvalidStatusChange(LoyaltyError):
    code = "invalid_status_change"
    status = 409
    default_message = _("This membership status change is not possible.")


class SubscriptionLimitReached(LoyaltyError):
    code = "subscription_limit_reached"
    status = 400
    default_message = _("This partner has the most webhook subscriptions allowed.")


class PartnerInactive(LoyaltyError):
    code = "partner_inactive"
    default_message = _("This partner is deactivated and cannot record purchases.")


class ProgramMismatch(LoyaltyError):
    code = "program_mismatch"
    default_message = _("This partner does not take part in the member's program.")


class InvalidAmount(LoyaltyError):
    code = "invalid_amount"
    default_message = _("The amount is not valid.")


class AmountOutOfRange(LoyaltyError):
    code = "amount_out_of_range"
    status = 400
    default_message = _("The amount is larger than a purchase may be.")


class PointsOutOfRange(LoyaltyError):
    code = "points_out_of_range"
    default_message = _("The purchase would earn more points than one purchase may.")


class BeforeHistoryStart(LoyaltyError):
    code = "before_history_start"
    status = 400
    default_message = _("The date lies before the program's history starts.")


class CurrencyMismatch(LoyaltyError):
    code = "currency_mismatch"
    default_message = _("The currency does not match the program's currency.")


class InsufficientPoints(LoyaltyError):
    code = "insufficient_points"
    status = 409
    default_message = _("Not enough points available.")


class NegativeBalance(LoyaltyError):
    code = "negative_balance"
    status = 409
    default_message = _("Points owed from a return must be earned back before redeeming.")


class RewardUnavailable(LoyaltyError):
    code = "reward_unavailable"
    status = 409
    default_message = _("This reward cannot be redeemed right now.")


class OutOfStock(RewardUnavailable):
    code = "out_of_stock"
    default_message = _("This reward is out of stock.")


class TierTooLow(RewardUnavailable):
    code = "tier_too_low"
    default_message = _("This reward needs a higher tier.")


class RedemptionLimitReached(RewardUnavailable):
    code = "redemption_limit_reached"
    default_message = _("You have already redeemed this reward as often as allowed.")


class RedemptionNotCancellable(LoyaltyError):
    code = "redemption_not_cancellable"
    status = 409
    default_message = _("Only an unused redemption can be cancelled.")


class RedemptionNotUsable(LoyaltyError):
    code = "redemption_not_usable"
    status = 409
    default_message = _("Only an issued voucher can be marked as used.")


class RefundExceedsPurchase(LoyaltyError):
    code = "refund_exceeds_purchase"
    status = 409
    default_message = _("The refund would exceed what was paid.")


class PurchaseFailed(LoyaltyError):
    code = "purchase_failed"
    status = 409
    default_message = _(
        "The purchase's points could not be awarded (status failed); it can be returned "
        "once staff have awarded it again."
    )


class IdempotencyConflict(LoyaltyError):
    code = "idempotency_conflict"
    status = 409
    default_message = _("This key was already used for a different request.")


class ActionLimitReached(LoyaltyError):
    code = "action_limit_reached"
    status = 409
    default_message = _("This action has already earned points as often as allowed.")


class UnknownAction(LoyaltyError):
    code = "unknown_action"
    default_message = _("No active action rule with this code exists in the program.")


class ReferralNotAllowed(LoyaltyError):
    code = "referral_not_allowed"
    default_message = _("This referral cannot be registered.")


class InvalidTierChange(LoyaltyError):
    code = "invalid_tier_change"
    default_message = _("This tier change is not possible.")


class PointsPaymentUnavailable(LoyaltyError):
    code = "points_payment_unavailable"
    default_message = _("This program does not take points as payment: no point value is set.")


class HoldNotHeld(LoyaltyError):
    code = "hold_not_held"
    status = 409
    default_message = _("This hold no longer reserves points: it was captured or voided.")


class HoldExpired(LoyaltyError):
    code = "hold_expired"
    status = 409
    default_message = _("This hold has expired and its points are released; place a new hold.")


class CaptureExceedsHold(LoyaltyError):
    code = "capture_exceeds_hold"
    status = 409
    default_message = _("A capture can take at most the points the hold reserved.")


class ProofRequired(LoyaltyError):
    code = "proof_required"
    status = 403
    default_message = _(
        "Spending needs the customer's proof: send proof.code (the rotating code from the "
        "portal's card page) or proof.pin (the PIN the customer set in the portal)."
    )


class ProofInvalid(LoyaltyError):
    code = "proof_invalid"
    status = 403
    default_message = _(
        "The code or PIN is not right for this card. Codes change every 30 seconds and work "
        "once: ask the customer to show the current code, or to enter the PIN again."
    )


class PinNotSet(LoyaltyError):
    code = "pin_not_set"
    status = 403
    default_message = _(
        "This customer has not set a PIN. Ask for the rotating code from the portal's card page."
    )


class PinLocked(LoyaltyError):
    code = "pin_locked"
    status = 403
    default_message = _(
        "Too many wrong PINs: the PIN is locked for a while. Ask for the rotating code "
        "from the portal's card page."
    )


class PinInvalid(LoyaltyError):
    code = "pin_invalid"
    status = 400
    default_message = _("A PIN has 4 to 6 digits and is not too easy to guess.")


class VoucherNotFound(LoyaltyError):
    code = "voucher_not_found"
    status = 404
    default_message = _("No voucher with this code in your programs.")


class VoucherUsed(RedemptionNotUsable):
    code = "voucher_used"
    default_message = _("This voucher has already been used.")


class VoucherCancelled(RedemptionNotUsable):
    code = "voucher_cancelled"
    default_message = _("This voucher was cancelled: its points went back to the member.")


class VoucherExpired(RedemptionNotUsable):
    code = "voucher_expired"
    default_message = _("This voucher has expired and can no longer be used.")


class CardNumberInvalid(LoyaltyError):
    code = "card_number_invalid"
    status = 400
    default_message = _(
        "This is not a card number: a card number has 16 digits and its last digit checks "
        "the others, so a mistyped or missing digit shows. Type the number on the card again "
        "(spaces and hyphens are fine) or scan the card's QR code."
    )


class AdjustmentAboveLimit(LoyaltyError):
    code = "adjustment_above_limit"
    status = 403
    default_message = _("This adjustment is larger than your role may book.")


# --- shared accounts and transfers ----------------------------------------------------


class AccountClosed(LoyaltyError):
    code = "account_closed"
    status = 409
    default_message = _("This shared account is closed.")


class AccountRoleRefused(LoyaltyError):
    code = "account_role_refused"
    status = 403
    default_message = _("Your role in this shared account does not allow this.")


class AccountMembershipConflict(LoyaltyError):
    code = "account_membership_conflict"
    status = 409
    default_message = _("This member already belongs to a shared account.")


class AccountNotSettled(LoyaltyError):
    code = "account_not_settled"
    status = 409
    default_message = _("The account's points are not settled yet; it cannot be closed now.")


class AccountRedemptionLimit(LoyaltyError):
    code = "account_redemption_limit"
    status = 409
    default_message = _("This would exceed your monthly redemption limit for the account.")


class InvitationClosed(LoyaltyError):
    code = "invitation_closed"
    status = 409
    default_message = _("This invitation is no longer open.")


class PurchaseOrderMissing(LoyaltyError):
    code = "po_reference_required"
    status = 422
    default_message = _("This account requires a purchase order number (po_reference).")


class TransferRefused(LoyaltyError):
    code = "transfer_refused"
    status = 409
    default_message = _("This transfer is not possible.")


class TransferLimitReached(LoyaltyError):
    code = "transfer_limit_reached"
    status = 409
    default_message = _("This transfer would exceed the limit for giving points.")


class TransferNotReversible(LoyaltyError):
    code = "transfer_not_reversible"
    status = 409
    default_message = _("This transfer cannot be reversed.")
