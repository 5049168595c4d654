"""The one way higher apps (payments) take part in a job's life without jobs importing them.

An app subscribes in its ``AppConfig.ready()``; jobs calls the hooks at fixed points:

- ``authorise``: ``fn(job=<unsaved Job with its pk>)``, outside any transaction, before a
  posted job is saved. Raising an ``ApplicationError`` refuses the post (nothing saved).
- ``created``: ``fn(job=)``, inside the transaction that inserts a posted job, after its
  first event. Raising an ``ApplicationError`` refuses the post (the insert rolls back, and
  ``abandon`` runs).
- ``abandon``: ``fn(job_pk=...)``, outside any transaction, when a post that was authorised
  could not be saved after all; undo what ``authorise`` did.
- ``release``: ``fn(job_pk=...)``, outside any transaction, before a job goes (back) to
  dispatch: a scheduled job's release, an unassigned job's re-post. Raising an
  ``ApplicationError`` refuses it: a scheduled job is cancelled (its ``code`` is the
  reason the shop is told; a 5xx leaves it scheduled for the next try), a re-post answers
  the error.
- ``transitioned``: ``fn(job=, event=)``, inside the transaction that moved the job, so
  what it writes commits or rolls back with the move; queue network work on commit.
- ``job_output``: ``fn(job_pks=[...]) -> {pk: {field: value}}``, extra read-only fields of
  the shop's job output (e.g. ``payment``), fetched once per page.
- ``problem_reported``: ``fn(problem=<RecipientProblem>)``, inside the transaction that
  stored the recipient's report (the job row locked), so what it writes (a dispute)
  commits with the report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

HOOK_NAMES = frozenset(
    {"authorise", "created", "abandon", "release", "transitioned", "job_output", "problem_reported"}
)
_hooks: dict[str, list[Callable[..., Any]]] = defaultdict(list)


def hook_register(name: str, fn: Callable[..., Any]) -> None:
    """Subscribe ``fn`` to hook ``name`` (once; registering again is a no-op)."""
    if name not in HOOK_NAMES:
        raise ValueError(f"unknown job hook {name!r}")
    if fn not in _hooks[name]:
        _hooks[name].append(fn)


def hook_run(name: str, **kwargs: Any) -> None:
    for fn in _hooks[name]:
        fn(**kwargs)


def job_output_extras(job_pks: Iterable[Any]) -> dict[Any, dict[str, Any]]:
    """Extra output fields per job from every ``job_output`` subscriber."""
    pks = list(job_pks)
    merged: dict[Any, dict[str, Any]] = {pk: {} for pk in pks}
    for fn in _hooks["job_output"]:
        for pk, fields in fn(job_pks=pks).items():
            merged.setdefault(pk, {}).update(fields)
    return merged
