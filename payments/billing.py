"""The shop's side: its Stripe customer, card set-up, the default card, and tips."""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobStatus
from marketplace.api.errors import NotFoundError
from marketplace.models import Shop, User
from payments.errors import (
    InvalidPaymentMethod,
    PaymentAuthenticationRequired,
    PaymentDeclinedError,
    PaymentMethodRequired,
    PaymentUnavailable,
    TipNotAllowed,
    TipTooSmall,
)
from payments.flows import fee_post, transfer_owe
from payments.gateway import (
    AuthenticationRequired,
    GatewayError,
    GatewayUnavailable,
    PaymentDeclined,
    SetupIntentResult,
    get_gateway,
)
from payments.ledger import Line, courier_payable, ledger_post
from payments.models import EntryKind, ShopBilling, Tip, TipStatus, TransferKind
from payments.sandbox import sandbox_money_check


def shop_billing_ensure(*, shop: Shop, email: str = "") -> ShopBilling:
    """The shop's billing row, creating its Stripe customer once (outside a transaction)."""
    sandbox_money_check(is_sandbox=shop.is_sandbox)
    billing = ShopBilling.objects.filter(shop=shop).first()
    if billing is not None:
        return billing
    try:
        customer_id = get_gateway().customer_create(
            email=email,
            metadata={"shop_id": str(shop.pk)},
            idempotency_key=f"shop:{shop.pk}:customer",
        )
    except GatewayUnavailable as error:
        raise PaymentUnavailable() from error
    billing, _ = ShopBilling.objects.get_or_create(shop=shop, defaults={"customer_id": customer_id})
    return billing


def shop_setup_intent_create(*, shop: Shop, actor: User | None) -> SetupIntentResult:
    """A SetupIntent a front end confirms with the card (Stripe.js); its client secret."""
    sandbox_money_check(is_sandbox=shop.is_sandbox)
    billing = shop_billing_ensure(shop=shop, email=actor.email if actor else "")
    try:
        return get_gateway().setup_intent_create(
            customer_id=billing.customer_id,
            idempotency_key=f"shop:{shop.pk}:setup_intent:{uuid.uuid4()}",
        )
    except GatewayUnavailable as error:
        raise PaymentUnavailable() from error


def shop_payment_method_set(
    *, shop: Shop, actor: User | None, payment_method_id: str
) -> ShopBilling:
    """Attach ``payment_method_id`` to the shop's customer and make it the default."""
    sandbox_money_check(is_sandbox=shop.is_sandbox)
    billing = shop_billing_ensure(shop=shop, email=actor.email if actor else "")
    try:
        card = get_gateway().payment_method_attach(
            customer_id=billing.customer_id, payment_method_id=payment_method_id
        )
    except GatewayUnavailable as error:
        raise PaymentUnavailable() from error
    except GatewayError as error:
        raise InvalidPaymentMethod(
            f"Stripe did not accept this payment method: {error}",
            fields={"payment_method": [str(error)]},
        ) from error
    with transaction.atomic():
        billing = ShopBilling.objects.select_for_update().get(pk=billing.pk)
        billing.payment_method_id = card.payment_method_id
        billing.card_brand = card.brand
        billing.card_last4 = card.last4
        billing.card_exp_month = card.exp_month
        billing.card_exp_year = card.exp_year
        billing.save()
    return billing


# Stripe's smallest charge in EUR/USD/GBP-like currencies (minor units).
MINIMUM_CHARGE_MINOR = 50


def job_tip(*, shop: Shop, actor: User, job_pk: UUID, amount_minor: int) -> Tip:
    """Tip the courier of a delivered job (once, within ``TIP_WINDOW_DAYS``): its own
    automatic-capture PaymentIntent, all of it owed to the courier.

    The Stripe call is keyed by the tip row, so repeating a request whose answer was lost
    (503) completes the same charge instead of charging twice.
    """
    job = Job.objects.filter(pk=job_pk, shop=shop).first()
    if job is None:
        raise NotFoundError("No such job.")
    if amount_minor < MINIMUM_CHARGE_MINOR:
        message = (
            f"A tip is at least {MINIMUM_CHARGE_MINOR} minor units (Stripe's smallest charge)."
        )
        raise TipTooSmall(
            f"Invalid input. amount_minor: {message}", fields={"amount_minor": [message]}
        )
    window = timedelta(days=settings.TIP_WINDOW_DAYS)
    if job.status != JobStatus.DELIVERED or job.delivered_at < timezone.now() - window:
        raise TipNotAllowed(
            f"Only a delivered job can be tipped, within {settings.TIP_WINDOW_DAYS} days."
        )
    sandbox_money_check(is_sandbox=shop.is_sandbox)
    billing = ShopBilling.objects.filter(shop=shop).first()
    if billing is None or not billing.has_payment_method:
        raise PaymentMethodRequired()
    tip, created = Tip.objects.get_or_create(
        job=job,
        defaults={
            "amount_minor": amount_minor,
            "currency": job.currency,
            "status": TipStatus.CHARGING,
        },
    )
    if not created and (tip.status != TipStatus.CHARGING or tip.amount_minor != amount_minor):
        raise TipNotAllowed("This job was already tipped.")
    try:
        result = get_gateway().payment_intent_charge(
            amount_minor=tip.amount_minor,
            currency=tip.currency,
            customer_id=billing.customer_id,
            payment_method_id=billing.payment_method_id,
            transfer_group=f"job_{job.pk}",
            metadata={"job_id": str(job.pk), "tip_id": str(tip.pk), "shop_id": str(shop.pk)},
            idempotency_key=f"job:{job.pk}:tip:{tip.pk}",
        )
    except (PaymentDeclined, AuthenticationRequired) as refused:
        Tip.objects.filter(pk=tip.pk).delete()
        if isinstance(refused, AuthenticationRequired):
            raise PaymentAuthenticationRequired() from refused
        raise PaymentDeclinedError() from refused
    except GatewayUnavailable as error:
        raise PaymentUnavailable() from error
    except GatewayError as error:
        Tip.objects.filter(pk=tip.pk).delete()
        raise PaymentDeclinedError(f"The payment was refused: {error}") from error
    with transaction.atomic():
        tip = Tip.objects.select_for_update().get(pk=tip.pk)
        tip.status = TipStatus.SUCCEEDED
        tip.intent_id = result.id
        tip.charge_id = result.charge_id or ""
        tip.save(update_fields=["status", "intent_id", "charge_id", "updated_at"])
        key = f"job:{job.pk}:tip"
        ledger_post(
            idempotency_key=key,
            kind=EntryKind.TIP,
            lines=[
                Line("stripe_clearing", result.amount_received, result.currency),
                Line(courier_payable(job.courier_id), -result.amount_received, result.currency),
            ],
            job_id=job.pk,
            reference=result.charge_id or result.id,
        )
        fee_post(
            key=key,
            job_id=job.pk,
            fee_minor=result.fee_minor,
            currency=result.currency,
            reference=result.balance_transaction_id or "",
        )
        transfer_owe(
            job_id=job.pk,
            courier_id=job.courier_id,
            kind=TransferKind.TIP,
            amount_minor=result.amount_received,
            currency=result.currency,
            source_charge_id=result.charge_id or "",
        )
    return tip
