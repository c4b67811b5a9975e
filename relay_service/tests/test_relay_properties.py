"""Property-based tests (hypothesis) of the routing and delivery invariants.

A state machine drives the real :class:`~clawdeploy_relay.services.relay.RelayService` on a
temporary SQLite file with a fake clock, through random interleavings of inbound
messages, polls (seed and explicit ack), acks, replies, clock jumps (lease expiry, stale
and disconnected clients), sweeps, revocations and returning clients. After every step:

* a conversation is on exactly one client: every leased message is leased to its
  conversation's client, and a conversation only changes client when its client is gone
  (disconnected or revoked);
* nothing is lost: every stored message is still there, and once acked stays acked;
* nothing is duplicated past its ack: a poll never hands out an acked message, nor one
  whose lease is still running on a live client; each conversation is delivered in order;
* at the end, clients draining the relay get and ack every message.

Sizes are tuned so the file runs in a few seconds on two cores (``max_examples``). The
same machine runs on PostgreSQL when the tests have a server (``RELAY_TEST_DATABASE_URL``):
one database for the test, emptied before each example, fewer examples (round trips).
"""

import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from clawdeploy_relay.clock import FakeClock  # noqa: E402
from clawdeploy_relay.envelope import ApiError  # noqa: E402
from clawdeploy_relay.schema import clients, conversations, integrations, messages  # noqa: E402
from clawdeploy_relay.services.relay import RelayService  # noqa: E402
from clawdeploy_relay.services.states import conversation_state  # noqa: E402
from clawdeploy_relay.settings import Settings  # noqa: E402
from clawdeploy_relay.store import Store  # noqa: E402
from clawdeploy_relay.tokens import hash_token, new_token  # noqa: E402

CLIENTS = ("c0", "c1", "c2")
USERS = ("alice", "bob", "carol", "dave")
INTEGRATION = "i1"
# Jumps of the fake clock: within a lease, past it (60 s), past stale (30 s) and
# disconnected (300 s).
JUMPS = st.sampled_from([0.5, 5.0, 31.0, 61.0, 301.0])
# What the API lets through to the service: no U+0000 (422 there; PostgreSQL cannot store it).
TEXTS = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=5)
RELAY_SETTINGS = Settings(poll_batch=3)  # small batches: the limit is exercised too
# The database on tmpfs when there is one: the properties are about logic, and fsync
# (synchronous=FULL) would be most of their time.
SCRATCH = "/dev/shm" if Path("/dev/shm").is_dir() else None
PG_EXAMPLES = 20


class RelayMachine(RuleBasedStateMachine):
    """The relay under random operations, with a model of what each client was given."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp: Path | None = None
        self.store = self.open_store()
        self.clock = FakeClock()
        self.relay: RelayService
        self.inbound_ids: set[str] = set()
        self.acked: set[str] = set()
        self.delivered: dict[str, list[str]] = {c: [] for c in CLIENTS}
        self.last_seen: dict[str, float] = {}
        self.revoked: set[str] = set()
        self.owners: dict[str, str | None] = {}

    def open_store(self) -> Store:
        """A new SQLite file for this example."""
        self.tmp = Path(tempfile.mkdtemp(prefix="relay-prop-", dir=SCRATCH))
        return Store(f"sqlite:///{self.tmp / 'relay.db'}")

    @initialize(seed=st.integers(0, 2**16))
    def setup(self, seed: int) -> None:
        self.relay = RelayService(self.store, RELAY_SETTINGS, self.clock, random.Random(seed))
        with self.store.tx() as conn:
            for cid in CLIENTS:
                row = {"id": cid, "name": cid, "token_hash": hash_token(new_token("rc_"))}
                self.store.insert(conn, "clients", {**row, "created_at": self.clock()})
            self.store.insert(
                conn,
                "integrations",
                {
                    "id": INTEGRATION,
                    "name": INTEGRATION,
                    "token_hash": hash_token(new_token("ri_")),
                    "created_at": self.clock(),
                },
            )

    def teardown(self) -> None:
        try:
            if hasattr(self, "relay"):
                self._drain()
        finally:
            self.store.close()
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)

    # --- reading the database ---------------------------------------------------------

    def _messages(self) -> dict[str, dict[str, Any]]:
        with self.store.tx() as conn:
            rows = conn.execute(select(messages).where(messages.c.direction == "in"))
            return {r.id: dict(r._mapping) for r in rows}

    def _owners(self) -> dict[str, str | None]:
        with self.store.tx() as conn:
            rows = conn.execute(select(conversations.c.id, conversations.c.client_id))
            return {r.id: r.client_id for r in rows}

    def _gone(self, client: str | None) -> bool:
        """Whether ``client`` is disconnected or revoked now (registered is not gone)."""
        if client is None or client in self.revoked:
            return True
        seen = self.last_seen.get(client)
        return seen is not None and self.clock() - seen >= RELAY_SETTINGS.disconnected_after_s

    def _check_moves(self, owners: dict[str, str | None]) -> None:
        """Sticky: a conversation changed client only if the one it left is gone now.

        Called right after each operation that may move conversations (a rule with several
        polls checks after each), so "gone" is judged at the time of the move.
        """
        for conv, owner in owners.items():
            previous = self.owners.get(conv)
            if conv in self.owners and owner != previous:
                assert self._gone(previous), f"{conv} left {previous}, which is not gone"
        self.owners = owners

    def _live(self) -> list[str]:
        return [c for c in CLIENTS if c not in self.revoked]

    # --- operations -------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), text=TEXTS)
    def inbound(self, user: str, text: str) -> None:
        message, _wake = self.relay.inbound(INTEGRATION, user, text, None)
        assert message["id"] not in self.inbound_ids
        self.inbound_ids.add(message["id"])

    @rule(user=st.sampled_from(USERS), key=st.sampled_from(["k1", "k2"]))
    def inbound_retried(self, user: str, key: str) -> None:
        """The same key twice stores one message; the same key for other content is 409."""
        try:
            first, _wake = self.relay.inbound(INTEGRATION, user, f"keyed {key}", key)
        except ApiError as exc:  # the key went with another user's message before
            assert exc.error_code == "idempotency_conflict"
            return
        again, _wake = self.relay.inbound(INTEGRATION, user, f"keyed {key}", key)
        assert again["id"] == first["id"]
        self.inbound_ids.add(first["id"])

    @precondition(lambda self: len(self._live()) > 0)
    @rule(data=st.data(), implicit=st.booleans())
    def poll(self, data: st.DataObject, implicit: bool) -> None:
        client = data.draw(st.sampled_from(self._live()), label="client")
        self._poll(client, implicit)

    def _poll(self, client: str, implicit: bool) -> list[dict[str, Any]]:
        before = self._messages()
        now = self.clock()
        batch = self.relay.poll(client, implicit).messages
        self.last_seen[client] = now  # as the relay does, before it fails work over
        after = self._messages()
        owners = self._owners()
        self._check_moves(owners)
        assert [m["seq"] for m in batch] == sorted(m["seq"] for m in batch)
        in_batch: set[str] = set()
        for message in batch:
            mid, conv = message["id"], message["conversationId"]
            old = before[mid]
            assert old["state"] != "acked", "an acked message was delivered again"
            if old["state"] == "leased" and old["lease_until"] > now:
                # Only a gone client's running lease may be taken over (failover).
                assert old["leased_to"] != client and self._gone(old["leased_to"])
            assert owners[conv] == client, "delivered by a client that does not own it"
            assert message["deliveryCount"] == old["delivery_count"] + 1
            earlier = [
                r for r in after.values() if r["conversation_id"] == conv and r["seq"] < old["seq"]
            ]
            for row in earlier:
                assert row["state"] == "acked" or row["id"] in in_batch, "out of order"
            in_batch.add(mid)
            self.delivered[client].append(mid)
        return batch

    @precondition(lambda self: any(self.delivered[c] for c in self._live()))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        client = data.draw(st.sampled_from([c for c in self._live() if self.delivered[c]]))
        ids = data.draw(st.lists(st.sampled_from(self.delivered[client]), min_size=1))
        ids = [*ids, "msg-unknown"]
        before = self._messages()
        expected = {i for i in ids if i in before and before[i]["state"] == "leased"} & {
            i for i in ids if i in before and before[i]["leased_to"] == client
        }
        assert self.relay.ack(client, ids) == len(expected)
        after = self._messages()
        assert all(after[i]["state"] == "acked" for i in expected)

    @precondition(lambda self: any(self.delivered[c] for c in self._live()))
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        client = data.draw(st.sampled_from([c for c in self._live() if self.delivered[c]]))
        mid = data.draw(st.sampled_from(self.delivered[client]))
        before = self._messages()
        conv = before[mid]["conversation_id"]
        owner = self._owners()[conv]
        try:
            reply = self.relay.send(client, conv, None, "re", None, None)
        except ApiError as exc:
            assert exc.error_code == "conversation_not_found" and owner != client
            return
        assert owner == client
        after = self._messages()
        for row in before.values():
            mine = row["state"] == "leased" and row["leased_to"] == client
            if row["conversation_id"] == conv and mine and row["seq"] < reply["seq"]:
                assert after[row["id"]]["state"] == "acked"

    @rule(seconds=JUMPS)
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def sweep(self) -> None:
        self.relay.sweep()
        if any(not self._gone(c) for c in CLIENTS):
            rows = self._messages()
            owners = self._owners()
            for row in rows.values():
                if row["state"] != "acked":
                    assert not self._gone(owners[row["conversation_id"]]), "not failed over"

    @precondition(lambda self: len(self._live()) > 1)
    @rule(data=st.data())
    def goes_silent(self, data: st.DataObject) -> None:
        """One client stops polling for 5.5 min while the others poll about every minute."""
        client = data.draw(st.sampled_from(self._live()), label="silent")
        for _step in range(6):
            self.clock.advance(55.0)
            for other in self._live():
                if other != client:
                    self._poll(other, implicit=False)

    @precondition(lambda self: len(self._live()) > 1)
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        # Mostly a client holding a lease: revoking it is what fails work over mid-flight.
        leased = {r["leased_to"] for r in self._messages().values() if r["state"] == "leased"}
        holders = [c for c in self._live() if c in leased]
        client = data.draw(st.sampled_from(holders or self._live()), label="revoked")
        with self.store.tx() as conn:
            self.store.update_principal(conn, "client", client, {"revoked_at": self.clock()})
        self.revoked.add(client)

    # --- invariants -------------------------------------------------------------------

    @invariant()
    def relay_invariants(self) -> None:
        """After every step: one client per conversation, nothing lost or un-acked."""
        if not hasattr(self, "relay"):
            return
        rows, owners = self._messages(), self._owners()
        for row in rows.values():
            if row["state"] == "leased":
                assert row["leased_to"] == owners[row["conversation_id"]], "leased elsewhere"
        self._check_moves(owners)
        assert set(rows) == self.inbound_ids, "a message was lost or appeared"
        now_acked = {i for i, r in rows.items() if r["state"] == "acked"}
        assert self.acked <= now_acked, "an acked message went back"
        self.acked = now_acked

    def _drain(self) -> None:
        """Live clients poll (explicitly) and ack until nothing is left: all delivered."""
        self.clock.advance(RELAY_SETTINGS.lease_s + 1)
        for _round in range(len(self.inbound_ids) + 3):
            for client in self._live():
                batch = self._poll(client, implicit=False)
                if batch:
                    self.relay.ack(client, [m["id"] for m in batch])
            self.relay_invariants()
            if self.acked == self.inbound_ids:
                return
        raise AssertionError(f"not delivered: {sorted(self.inbound_ids - self.acked)}")


class PostgresRelayMachine(RelayMachine):
    """The same machine on one PostgreSQL database, emptied before each example."""

    database_url = ""  # set by the test below

    def open_store(self) -> Store:
        store = Store(self.database_url)
        with store.tx() as conn:
            for table in (messages, conversations, clients):
                conn.execute(delete(table))
            conn.execute(delete(integrations).where(integrations.c.id != "default"))
        return store


RelayMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRelayInvariants = RelayMachine.TestCase


def test_relay_invariants_on_postgresql(postgres_url: str) -> None:
    """The invariants above with PostgreSQL's SQL, locks and types (fewer examples)."""
    PostgresRelayMachine.database_url = postgres_url
    run_state_machine_as_test(
        PostgresRelayMachine,
        settings=settings(
            max_examples=PG_EXAMPLES,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["created", "active"]), st.floats(0, 200_000)), max_size=12
    )
)
def test_state_counts_in_sql_match_the_state_machine(
    database_url: str, rows: list[tuple[str, float]]
) -> None:
    """``conversation_state_counts`` (one grouped query) agrees with ``conversation_state``."""
    store = Store(database_url)
    now, s = 1_700_000_000.0, RELAY_SETTINGS
    try:
        with store.tx() as conn:
            conn.execute(conversations.delete())
            for number, (status, age) in enumerate(rows):
                store.insert(
                    conn,
                    "conversations",
                    {
                        "id": f"conv-{number}",
                        "integration_id": "default",
                        "user_id": f"u{number}",
                        "client_id": None,
                        "status": status,
                        "created_at": now - age,
                        "updated_at": now - age,
                    },
                )
            counts = store.conversation_state_counts(
                conn, now, s.idle_after_s, s.conversation_ttl_s
            )
        expected: dict[str, int] = {}
        for status, age in rows:
            state = conversation_state(
                {"status": status, "updated_at": now - age},
                now,
                s.idle_after_s,
                s.conversation_ttl_s,
            )
            expected[state] = expected.get(state, 0) + 1
        assert counts == expected
    finally:
        store.close()
