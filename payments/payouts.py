"""The courier's side: their Connect account, its onboarding link, and staying in sync with it."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from couriers.models import Courier
from payments.errors import PaymentUnavailable
from payments.flows import payouts_release
from payments.gateway import AccountResult, GatewayUnavailable, get_gateway
from payments.models import CourierPayoutAccount
from payments.sandbox import sandbox_money_check


def courier_onboarding_link(*, courier: Courier) -> tuple[CourierPayoutAccount, str]:
    """Create the courier's Express account (once) and a fresh single-use onboarding URL."""
    sandbox_money_check(is_sandbox=courier.is_robo, who="robo courier")
    account = CourierPayoutAccount.objects.filter(courier=courier).first()
    try:
        # Inside the try: an unconfigured gateway is unavailable too (503, not a 500).
        gateway = get_gateway()
        if account is None:
            result = gateway.account_create(
                email=courier.user.email,
                country=settings.PAYOUTS_ACCOUNT_COUNTRY,
                metadata={"courier_id": str(courier.pk)},
                idempotency_key=f"courier:{courier.pk}:account",
            )
            account, _ = CourierPayoutAccount.objects.get_or_create(
                courier=courier, defaults={"account_id": result.id}
            )
            payout_account_sync(result=result)
            account.refresh_from_db()
        url = gateway.account_link_create(
            account_id=account.account_id,
            refresh_url=settings.PAYOUTS_ONBOARDING_REFRESH_URL,
            return_url=settings.PAYOUTS_ONBOARDING_RETURN_URL,
        )
    except GatewayUnavailable as error:
        raise PaymentUnavailable() from error
    return account, url


def payout_account_sync(*, result: AccountResult) -> CourierPayoutAccount | None:
    """Store what Stripe says about a connected account; when payouts just became enabled,
    transfer what was held for the courier."""
    with transaction.atomic():
        account = (
            CourierPayoutAccount.objects.select_for_update().filter(account_id=result.id).first()
        )
        if account is None:
            return None
        account.payouts_enabled = result.payouts_enabled
        account.charges_enabled = result.charges_enabled
        account.details_submitted = result.details_submitted
        account.requirements_due = list(result.requirements_due)
        account.save()
        if account.payouts_enabled:
            payouts_release(courier_id=account.courier_id)
    return account
