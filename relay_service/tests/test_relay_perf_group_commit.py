"""Group commit of single writes (SQLite): requests that arrive while a commit runs share
the next transaction, each keeps its own result, a lone one is written at once; on the
event loop (single /inbound and /send) and across threads (acks, HTTP and WebSocket)."""

import asyncio
import threading
import time
from collections.abc import Callable

from clawdeploy_relay.envelope import ApiError
from clawdeploy_relay.services.group_commit import GroupCommit, ThreadGroupCommit
from relay_helpers import SQLITE_ONLY, Relay


def slow_writer(log: list[list[int]]) -> Callable[[list[int]], list[int | ApiError]]:
    def write(items: list[int]) -> list[int | ApiError]:
        log.append(list(items))
        time.sleep(0.05)  # the commit (fsync) others arrive during
        return [ApiError(409, "odd", "odd") if i % 7 == 6 else i * 10 for i in items]

    return write


def test_concurrent_items_share_transactions_in_order() -> None:
    groups: list[list[int]] = []
    committer = GroupCommit(slow_writer(groups))

    async def scenario() -> list[int | ApiError]:
        tasks = []
        for i in range(20):
            tasks.append(asyncio.create_task(committer.submit(i)))
            await asyncio.sleep(0.005)
        return await asyncio.gather(*tasks)

    results = asyncio.run(scenario())
    assert [r for r in results if not isinstance(r, ApiError)] == [
        i * 10 for i in range(20) if i % 7 != 6
    ]
    assert all(isinstance(results[i], ApiError) for i in (6, 13))
    assert [i for group in groups for i in group] == list(range(20))  # in arrival order
    assert groups[0] == [0]  # a lone item does not wait for company
    assert len(groups) < 10 and committer.groups == len(groups)


def test_an_error_of_the_transaction_fails_its_group_only() -> None:
    calls = [0]

    def write(items: list[int]) -> list[int]:
        calls[0] += 1
        time.sleep(0.02)
        if calls[0] == 1:
            raise RuntimeError("disk full")
        return items

    committer = GroupCommit(write)

    async def scenario() -> list[object]:
        first = asyncio.create_task(committer.submit(1))
        await asyncio.sleep(0.005)
        later = asyncio.create_task(committer.submit(2))
        return await asyncio.gather(first, later, return_exceptions=True)

    first, later = asyncio.run(scenario())
    assert isinstance(first, RuntimeError) and later == 2


@SQLITE_ONLY
def test_concurrent_single_posts_share_commits(relay: Relay) -> None:
    relay_service = relay.http.app.state.relay
    assert relay_service.inbound_commits is not None
    _cid, oc = relay.register()
    relay.poll(oc)
    store = relay_service.store
    original = store.tx
    commits = [0]

    def slow_tx():  # type: ignore[no-untyped-def]
        commits[0] += 1
        time.sleep(0.05)
        return original()

    store.tx = slow_tx
    try:
        answers: list[int] = []

        def post(i: int) -> None:
            answers.append(relay.inbound(f"user-{i}", f"t{i}")["seq"])

        threads = [threading.Thread(target=post, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
            time.sleep(0.004)
        for thread in threads:
            thread.join()
    finally:
        store.tx = original
    assert len(set(answers)) == 12
    assert commits[0] < 12  # several requests per commit
    assert len(relay.poll(oc, ack="explicit")) == 12  # every one stored and queued


def test_thread_group_commit_shares_transactions_and_hands_over() -> None:
    groups: list[list[int]] = []
    committer = ThreadGroupCommit(slow_writer(groups))
    results: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            results[i] = committer.submit(i)
        except ApiError as exc:
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
        time.sleep(0.005)
    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads)
    assert {i: r for i, r in results.items() if not isinstance(r, ApiError)} == {
        i: i * 10 for i in range(20) if i % 7 != 6
    }
    assert sorted(i for group in groups for i in group) == list(range(20))
    assert groups[0] == [0] and len(groups) < 10


@SQLITE_ONLY
def test_concurrent_acks_share_commits(relay: Relay) -> None:
    relay_service = relay.http.app.state.relay
    assert relay_service.ack_commits is not None
    _cid, oc = relay.register()
    relay.poll(oc)
    ids = [relay.inbound(f"user-{i}", "hi")["id"] for i in range(8)]
    assert len(relay.poll(oc, ack="explicit")) == 8
    before = relay_service.ack_commits.groups
    original = relay_service.ack_many

    def slow_ack_many(items):  # type: ignore[no-untyped-def]
        time.sleep(0.05)
        return original(items)

    relay_service.ack_commits.write = slow_ack_many
    acked: list[int] = []

    def ack(message_id: str) -> None:
        answer = relay.call("POST", "/ack", json={"ids": [message_id, "msg-unknown"]}, headers=oc)
        acked.append(answer.json()["acked"])

    threads = [threading.Thread(target=ack, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
        time.sleep(0.004)
    for thread in threads:
        thread.join()
    relay_service.ack_commits.write = original
    assert acked == [1] * 8  # each its own count
    assert relay_service.ack_commits.groups - before < 8
    relay.clock.advance(61)
    assert relay.poll(oc, ack="explicit") == []  # acked for good
