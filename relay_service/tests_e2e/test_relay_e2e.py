"""End to end with real gateways: relay + two OpenClaw gateways with connectors + three users.

One scenario in phases, run once per connector transport (``test_x[poll]``, ``test_x[ws]``:
the ``world`` fixture, see ``conftest.py``, a fresh relay each time on the same two
gateways); each phase builds on the previous one. Users post through ``POST /inbound``
with an integration token and read ``GET /outbox``; each message's text is a unique
marker (``e2e-<run>-<user>-m<n>``). The stub provider echoes what the gateway sent it
(the peer IP and every user-role text), and OpenClaw sends a session's history with each
request, so a reply shows which gateway container asked and which of the user's messages
its session held.

Gateways are called ``X`` (the one that gets alice, the first user) and ``Y`` (the other).
"""

import time
from typing import Any

import pytest
from relay_e2e_harness import wait_until

from conftest import REPLY_WAIT_S, USERS, World

pytestmark = pytest.mark.incremental


def _check_reply(
    world: World, reply: dict[str, Any], user: str, label: str, expected: list[str]
) -> None:
    """``reply`` went to ``user``, came from gateway ``label`` (relay client and stub peer),
    and its model request held exactly the markers ``expected`` (the session's history),
    none of another user."""
    where = f"reply to {user} ({expected[-1]})"
    assert reply["to"] == user, f"{where} went to {reply['to']}"
    assert world.label_of(reply["clientId"]) == label, (
        f"{where} was sent by client {world.label_of(reply['clientId'])}, expected {label}"
    )
    peer = world.peer(reply)
    assert peer == world.gateways[label].ip, (
        f"{where}: the model was asked by {peer}, not by gateway {label} "
        f"({world.gateways[label].ip})"
    )
    for other in USERS:
        if other != user:
            assert f"-{other}-m" not in reply["text"], f"{where} holds {other}'s text: context leak"
    assert world.markers(reply) == expected, (
        f"{where}: the gateway session held {world.markers(reply)}, expected {expected}"
    )


def test_least_busy_assignment(world: World) -> None:
    """New users go to the least-busy client (clients registered, no connector yet: the
    pending counts alone decide): alice posts two messages (her client X has 2 pending),
    then bob goes to the other client Y (0 < 2) and carol to Y too (1 < 2)."""
    states = {label: row["state"] for label, row in world.clients().items()}
    assert set(states.values()) == {"registered"}, f"client states before any poll: {states}"
    a1, a2 = world.post("alice"), world.post("alice")
    b1, c1 = world.post("bob"), world.post("carol")
    x = world.label_of(a1["clientId"])
    y = next(label for label in world.gateways if label != x)
    world.x, world.y = x, y
    assert a2["conversationId"] == a1["conversationId"] and a2["clientId"] == a1["clientId"], (
        "alice's second message went to another conversation or client"
    )
    assert world.label_of(b1["clientId"]) == y, "bob (second user) went to the busier client"
    assert world.label_of(c1["clientId"]) == y, (
        "carol went to the client with 2 pending instead of the one with 1"
    )
    assert len({a1["conversationId"], b1["conversationId"], c1["conversationId"]}) == 3
    pending = {label: row["pending"] for label, row in world.clients().items()}
    assert pending == {x: 2, y: 2}, f"pending per client: {pending}"


def test_first_replies_and_session_history(world: World) -> None:
    """Both connectors start and drain their queues: each message is answered by its own
    client's gateway, alice's second reply already saw her first (same OpenClaw session,
    in order), and nobody sees another user's text (bob and carol share gateway Y)."""
    x, y = world.x, world.y
    for label in (x, y):
        world.start_connector(label)
    world.wait_connected(x, y)
    a1, a2, b1, c1 = world.posted
    got = world.wait_answers([a1, a2, b1, c1])
    _check_reply(world, got[a1["marker"]], "alice", x, [a1["marker"]])
    _check_reply(world, got[a2["marker"]], "alice", x, [a1["marker"], a2["marker"]])
    _check_reply(world, got[b1["marker"]], "bob", y, [b1["marker"]])
    _check_reply(world, got[c1["marker"]], "carol", y, [c1["marker"]])


def test_stickiness_and_second_messages(world: World) -> None:
    """Each user's next message sticks to the user's client and its reply shows the
    session held the user's earlier messages, and only theirs."""
    x, y = world.x, world.y
    b2, c2, a3 = world.post("bob"), world.post("carol"), world.post("alice")
    for message, label in ((b2, y), (c2, y), (a3, x)):
        assert world.label_of(message["clientId"]) == label, (
            f"{message['marker']} was routed to {world.label_of(message['clientId'])}, not {label}"
        )
    got = world.wait_answers([b2, c2, a3])
    _check_reply(world, got[b2["marker"]], "bob", y, world.sent_by("bob"))
    _check_reply(world, got[c2["marker"]], "carol", y, world.sent_by("carol"))
    _check_reply(world, got[a3["marker"]], "alice", x, world.sent_by("alice"))


def test_failover_when_a_connector_stops(world: World) -> None:
    """Y's connector stops (SIGTERM, exit 0). bob's and carol's next messages, still
    routed to Y, fail over to X once Y is disconnected, and X's gateway answers them in a
    fresh session (Y's history is not there); their conversations then stay on X. alice,
    on X all along, is not disturbed."""
    x, y = world.x, world.y
    assert world.connectors[y].stop() == 0, world.connectors[y].exited()
    b3, c3, a4 = world.post("bob"), world.post("carol"), world.post("alice")
    for message in (b3, c3):
        assert world.label_of(message["clientId"]) == y, (
            f"{message['marker']} was routed to {world.label_of(message['clientId'])} before Y "
            "was disconnected"
        )
    got = world.wait_answers([b3, c3, a4])
    _check_reply(world, got[b3["marker"]], "bob", x, [b3["marker"]])
    _check_reply(world, got[c3["marker"]], "carol", x, [c3["marker"]])
    _check_reply(world, got[a4["marker"]], "alice", x, world.sent_by("alice"))
    states = world.clients()
    assert states[y]["state"] == "disconnected", f"Y is {states[y]['state']}"
    owners = {user: world.label_of(row["clientId"]) for user, row in world.conversations().items()}
    assert owners == dict.fromkeys(USERS, x), f"conversations' clients after failover: {owners}"
    # Sticky on the new client, and its session continues there.
    b4 = world.post("bob")
    assert world.label_of(b4["clientId"]) == x
    got = world.wait_answers([b4])
    _check_reply(world, got[b4["marker"]], "bob", x, [b3["marker"], b4["marker"]])


def test_relay_restart_with_pending_messages(world: World) -> None:
    """No connector runs; each user posts (stored: 200); the relay is killed (SIGKILL) and
    started again on the same database; both connectors start again. Every pending
    message is answered once, by one of the gateways (the conversations' client X, or Y
    if X's conversations failed over before X's connector came back), whose session held
    exactly the messages of that user it had answered before."""
    x = world.x
    assert world.connectors[x].stop() == 0, world.connectors[x].exited()
    pending = [world.post(user) for user in USERS]
    assert world.read_outbox() == [], "a reply came while no connector ran"
    world.relay.kill()
    world.relay.start()
    for label in world.gateways:
        world.start_connector(label)
    got = world.wait_answers(pending)
    for message in pending:
        reply = got[message["marker"]]
        label = world.label_of(reply["clientId"])
        _check_reply(world, reply, message["from"], label, world.answered_here(reply))


def test_relay_killed_while_messages_are_in_flight(world: World) -> None:
    """Both connectors run; each user posts and the relay is killed (SIGKILL) as soon as
    a gateway is asked (the model request reached the stub), then started again. The
    connectors keep what they hold, send the replies once the relay is back and take the
    rest: every message answered once, at least one of them stored after the restart (so
    the kill did find it in flight), the sessions as in the previous phase."""
    world.wait_connected(*world.gateways)
    asked = world.stub.model_requests()
    pending = [world.post(user) for user in USERS]

    def asking() -> bool:
        return world.stub.model_requests() > asked

    wait_until(asking, REPLY_WAIT_S, "a gateway to ask the model", 0.01)
    killed_at_ms = time.time() * 1000
    world.relay.kill()
    world.relay.start()
    got = world.wait_answers(pending)
    # The premise: the kill came before the replies were stored (the relay's clock stamps
    # each reply when it stores it; the connectors sent those after the restart).
    late = [m["marker"] for m in pending if got[m["marker"]]["timestamp"] > killed_at_ms]
    assert late, "every reply was stored before the relay was killed: nothing was in flight"
    for message in pending:
        reply = got[message["marker"]]
        label = world.label_of(reply["clientId"])
        _check_reply(world, reply, message["from"], label, world.answered_here(reply))


def test_every_message_answered_exactly_once(world: World) -> None:
    """Over the whole run (two relay restarts, one failover): the outbox, read again from
    the start, holds one reply per posted message, none lost, none twice."""
    world.read_outbox()
    everything = []
    cursor = 0
    while True:
        page = world.ok(world.users.get("/outbox", params={"after": cursor}))
        everything += page["messages"]
        if not page["messages"]:
            break
        cursor = page["cursor"]
    assert len(everything) == len(world.replies), "the outbox changed when read again"
    answered = sorted(world.markers(reply)[-1] for reply in everything)
    posted = sorted(message["marker"] for message in world.posted)
    assert answered == posted, f"replies {answered} do not match the posted messages {posted}"
    assert len({reply["id"] for reply in everything}) == len(everything)
