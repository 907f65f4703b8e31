"""The bounds on pending logins hold with the memory store full: per browser (its cookie keeps
the newest ``max_pending_logins``) and overall (``max_entries`` per namespace), and a flood
of login starts evicts only other pending logins, never a signed-in session."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from redtrust_middleware import LoginExpiredError, MemoryStore

from .conftest import FlakyStore, SuiteClock, World, make_world

pytestmark = pytest.mark.anyio

BOUND = 40  # the store's max_entries: pending logins kept in all


def pending_logins(world: World) -> int:
    return sum(":pending:" in key for key in world.store.snapshot())


def callback_query(world: World, login_url: str) -> str:
    """The query Redtrust sends back once the user signed in on its page."""
    return urlsplit(world.sign_in_on_page(login_url, "demo", "demo")).query


@pytest.fixture(params=["sync", "async"])
def full(request: pytest.FixtureRequest) -> World:
    """A world on a MemoryStore of ``BOUND`` entries per namespace."""
    clock = SuiteClock()
    return make_world(
        str(request.param),
        clock=clock,
        store=FlakyStore(MemoryStore(max_entries=BOUND, clock=clock)),
    )


async def test_the_pending_login_bounds_hold_with_the_store_full(full: World) -> None:
    world, per_browser = full, full.config.max_pending_logins
    handle = await world.sign_in()
    early, early_query = await world.start_and_authenticate()  # in flight before the flood

    # A flood: ten times the bound of login starts, each from a new browser.
    for _ in range(10 * BOUND):
        start = await world.driver.begin_login(next_url="/", callback_url=world.callback)
        assert len(start.browser_nonces) == 1
        assert pending_logins(world) <= BOUND
    assert pending_logins(world) == BOUND

    # One browser starts more logins than its cookie keeps, in the full store.
    cookie: tuple[str, ...] = ()
    starts = []
    for _ in range(per_browser + 2):
        start = await world.driver.begin_login(
            next_url="/", callback_url=world.callback, browser_nonces=cookie
        )
        cookie = tuple(start.browser_nonces)
        starts.append(start)
        assert len(cookie) <= per_browser
    assert cookie == tuple(s.browser_nonces[-1] for s in starts[-per_browser:])
    assert pending_logins(world) == BOUND  # still the overall bound, never more

    # The signed-in session outlived the flood; the login started before it did not.
    assert await world.driver.get(handle) is not None
    with pytest.raises(LoginExpiredError):
        await world.driver.complete_login(query=early_query, browser_nonces=early.browser_nonces)
    # The browser's oldest start is no longer in its cookie; its newest completes.
    with pytest.raises(LoginExpiredError):
        await world.driver.complete_login(
            query=callback_query(world, starts[0].url), browser_nonces=cookie
        )
    done = await world.driver.complete_login(
        query=callback_query(world, starts[-1].url), browser_nonces=cookie
    )
    assert await world.driver.get(done.handle) is not None
    assert await world.driver.get(handle) is not None
