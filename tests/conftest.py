"""Suite-wide guards: every test starts with an empty redactor and a default decimal context,
and leaks no asyncio task.

The redactor is process-global (the loader registers decrypted secrets; logging, /status and the
CLI read it), so a canary registered by one test would make another test's "the loader registers
secrets" assertion pass by accident. Clearing it before each test lets every canary test fail on
its own. An async test that leaves a task running behind it fails: a leaked task is a bot or a
probe that outlives its owner in production.
"""

from __future__ import annotations

import asyncio
import decimal
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest

from backfuture_daemon.redaction import GLOBAL_REDACTOR


@pytest.fixture(autouse=True)
def _fresh_decimal_context() -> Iterator[None]:
    # ccxt sets the thread's decimal context (ROUND_HALF_UP, Underflow trapped) when it formats
    # a number; a test that ran ccxt must not change the arithmetic of the next one.
    decimal.setcontext(decimal.Context())
    yield
    decimal.setcontext(decimal.Context())


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    GLOBAL_REDACTOR.clear()
    yield
    GLOBAL_REDACTOR.clear()


@pytest.fixture
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = asyncio.all_tasks()
    yield
    # Let cancellations that teardown started settle before judging.
    for _ in range(3):
        await asyncio.sleep(0)
    leaked = [
        t
        for t in asyncio.all_tasks()
        if t not in before and t is not asyncio.current_task() and not t.done()
    ]
    for task in leaked:
        task.cancel()
    if leaked:
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in leaked))
        pytest.fail(f"test leaked {len(leaked)} asyncio task(s): {names}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Set up first, torn down last: every other fixture (servers, clients) has closed by then.
    for item in items:
        fn = getattr(item, "function", None)
        if fn is not None and inspect.iscoroutinefunction(fn) and isinstance(item, pytest.Function):
            item.fixturenames.insert(0, "_no_leaked_tasks")
