"""The hooks through which couriers reaches the app above it without importing it.

Apps depend one way: ``jobs`` imports ``couriers``, never the reverse. Three facts cross
the line upwards, and ``jobs`` plugs them in from ``JobsConfig.ready()``:

- **active job** (one provider): which job a courier holds right now. Going online as
  ``busy``, refusing to go offline, and the courier socket's job tracking at connect ask
  it. Without a provider (``couriers`` on its own) nobody holds a job.
- **went offline** (any number of subscribers): called with the pks of couriers who just
  went offline, by choice or gone stale, after that change committed. ``jobs`` withdraws
  their open offers so those jobs move on at once.
- **position shown** (any number of subscribers): called with a job's pk and the
  courier's newest shown fix, once per TRACKING_BROADCAST_INTERVAL_SECONDS per job (the
  throttle already passed). ``jobs`` sends the recipient and the shop what each may see,
  with a fresh ETA. Blocking: the REST path calls it in the request.
- **position shown, on the loop** (any number of async subscribers): the same, awaited
  on the courier socket's event loop with the courier's vehicle, so a live position
  costs no thread hop. Subscribers must not block (no database on the loop).

Assignments reach couriers the other way round: ``jobs`` calls ``courier_job_assign`` and
``courier_job_release`` in ``couriers.services``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

ActiveJobProvider = Callable[[int], UUID | None]
OfflineSubscriber = Callable[[Sequence[int]], None]
PositionSubscriber = Callable[..., object]
AsyncPositionSubscriber = Callable[..., Awaitable[object]]

_active_job_provider: ActiveJobProvider | None = None
_offline_subscribers: list[OfflineSubscriber] = []
_position_subscribers: list[PositionSubscriber] = []
_async_position_subscribers: list[AsyncPositionSubscriber] = []


def active_job_provider_set(provider: ActiveJobProvider | None) -> None:
    """Make ``provider(courier_pk)`` the answer to "which job does this courier hold?"."""
    global _active_job_provider
    _active_job_provider = provider


def courier_active_job_pk(*, courier_pk: int) -> UUID | None:
    """The job the courier holds right now, as the registered provider says (else None)."""
    if _active_job_provider is None:
        return None
    return _active_job_provider(courier_pk)


def offline_subscribe(subscriber: OfflineSubscriber) -> None:
    """Call ``subscriber(courier_pks)`` whenever couriers go offline (once per function)."""
    if subscriber not in _offline_subscribers:
        _offline_subscribers.append(subscriber)


def couriers_went_offline(*, courier_pks: Sequence[int]) -> None:
    """Tell every subscriber; call after the change committed, never inside its transaction."""
    if not courier_pks:
        return
    for subscriber in list(_offline_subscribers):
        subscriber(list(courier_pks))


def position_subscribe(subscriber: PositionSubscriber) -> None:
    """Call ``subscriber(job_pk=, ping=)`` with each throttled shown fix (once per function)."""
    if subscriber not in _position_subscribers:
        _position_subscribers.append(subscriber)


def position_shown(*, job_pk: object, ping: object) -> None:
    """Tell every position subscriber about ``ping`` (an ``AcceptedPing``) for ``job_pk``."""
    for subscriber in list(_position_subscribers):
        subscriber(job_pk=job_pk, ping=ping)


def position_subscribe_async(subscriber: AsyncPositionSubscriber) -> None:
    """Await ``subscriber(job_pk=, ping=, vehicle=)`` with each throttled shown fix
    from a courier socket (once per function)."""
    if subscriber not in _async_position_subscribers:
        _async_position_subscribers.append(subscriber)


def has_async_position_subscribers() -> bool:
    return bool(_async_position_subscribers)


async def position_shown_async(*, job_pk: object, ping: object, vehicle: str) -> None:
    """Tell every async position subscriber, on the caller's event loop."""
    for subscriber in list(_async_position_subscribers):
        await subscriber(job_pk=job_pk, ping=ping, vehicle=vehicle)
