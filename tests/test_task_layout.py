"""Every django-q2 task path names a ``*_task`` function defined in a ``tasks.py`` module."""

from __future__ import annotations

import importlib

import pytest

from jobs.dispatch.offers import DISPATCH_TASK
from jobs.sandbox.queue import ROBO_STEP_TASK
from jobs.webhooks.delivery import DELIVER_TASK
from marketplace.schedules import PERIODIC_TASKS

QUEUED = [
    DISPATCH_TASK,
    DELIVER_TASK,
    ROBO_STEP_TASK,
    "payments.tasks.money_command_task",
    "payments.tasks.stripe_event_task",
]


@pytest.mark.parametrize("path", sorted({task.func for task in PERIODIC_TASKS} | set(QUEUED)))
def test_a_task_path_is_a_task_function_in_a_tasks_module(path: str) -> None:
    module_name, _, name = path.rpartition(".")
    function = getattr(importlib.import_module(module_name), name)

    assert callable(function)
    assert function.__name__.endswith("_task")
    assert function.__module__.split(".")[-1] == "tasks"
