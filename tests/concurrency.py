"""Run callables at the same moment in real threads, each on its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def race(*calls: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Start every call together; return each one's result or the exception it raised.

    Use with ``@pytest.mark.django_db(transaction=True)``: the threads' connections must
    see each other's commits.
    """
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout)
            results[index] = call()
        except Exception as exc:  # the caller inspects what each call raised
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"a racing call did not finish in {timeout} s")
    return results


def on_another_connection(call: Callable[[], Any], timeout: float = 60) -> Any:
    """Run ``call`` in a thread with its own database connection; return (or raise) its result.

    What another process would see: only what this test has committed.
    """
    [result] = race(call, timeout=timeout)
    if isinstance(result, Exception):
        raise result
    return result
