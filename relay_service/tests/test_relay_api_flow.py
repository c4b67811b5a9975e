"""The relay over HTTP: the seed's flow, routing, redelivery, idempotency, failover."""

from relay_helpers import Relay, assert_error

SEED_MESSAGE_FIELDS = {"id", "conversationId", "clientId", "from", "to", "text", "timestamp"}


def test_seed_happy_path(relay: Relay) -> None:
    """A seed client: register, inbound (seed body), 1 s polling, send, outbox."""
    client_id, oc = relay.register("my-openclaw")
    assert relay.poll(oc) == []  # the seed's "GET /poll (验证连接)"

    message = relay.inbound("alice", "Hello!")
    assert message.keys() >= SEED_MESSAGE_FIELDS
    assert message["clientId"] == client_id and message["from"] == "alice"

    polled = relay.poll(oc)
    assert [m["id"] for m in polled] == [message["id"]]
    conv_id = polled[0]["conversationId"]
    body = {"to": "alice", "text": "Hi Alice!", "conversationId": conv_id}
    sent = relay.send(oc, body)
    assert sent.status_code == 200 and sent.json()["ok"] is True
    reply = sent.json()["message"]
    assert reply.keys() >= SEED_MESSAGE_FIELDS and reply["to"] == "alice"

    outbox = relay.call("GET", "/outbox", headers=relay.admin).json()
    assert [m["text"] for m in outbox["messages"]] == ["Hi Alice!"]
    assert relay.outbox(after=outbox["cursor"]) == []

    # Second turn: same conversation, full history for the client.
    again = relay.inbound("alice", "How are you?")
    assert again["conversationId"] == conv_id
    assert [m["text"] for m in relay.poll(oc)] == ["How are you?"]
    history = relay.call("GET", f"/conversations/{conv_id}", headers=oc).json()
    assert [m["text"] for m in history["messages"]] == ["Hello!", "Hi Alice!", "How are you?"]
    assert history["userId"] == "alice" and history["clientId"] == client_id

    health = relay.call("GET", "/health").json()
    assert (health["ok"], health["clients"], health["conversations"]) == (True, 1, 1)
    assert health["clientStates"]["connected"] == 1
    # Seed mode: the next poll acked what was delivered, so nothing comes back later.
    relay.poll(oc)
    relay.clock.advance(120)
    assert relay.poll(oc) == []


def test_outbox_shows_only_own_integrations_replies(relay: Relay) -> None:
    _cid, oc = relay.register()
    web_id, web = relay.integration("web")
    _chat_id, chat = relay.integration("chat")
    relay.inbound("alice", "from web", headers=web)
    relay.inbound("alice", "from chat", headers=chat)  # another integration: another user
    for message in relay.poll(oc):
        body = {"conversationId": message["conversationId"], "text": "re: " + message["text"]}
        assert relay.send(oc, body).status_code == 200
    assert [m["text"] for m in relay.outbox(web)] == ["re: from web"]
    assert [m["text"] for m in relay.outbox(chat)] == ["re: from chat"]
    assert relay.outbox() == []  # the admin's default integration has no replies
    assert [m["text"] for m in relay.outbox(integrationId=web_id)] == ["re: from web"]
    stolen = relay.call("GET", "/outbox", headers=chat, params={"integrationId": web_id})
    assert_error(stolen, 404, "integration_not_found")


def test_least_busy_assignment_then_sticky(relay: Relay) -> None:
    a_id, a = relay.register("oc1")
    b_id, b = relay.register("oc2")
    relay.poll(a)
    relay.poll(b)  # both connected, both idle
    first = relay.inbound("alice", "1")["clientId"]
    other = b_id if first == a_id else a_id
    relay.inbound("alice", "2")
    relay.inbound("alice", "3")  # sticky: alice's client now has 3 pending
    assert {relay.inbound(user, "hi")["clientId"] for user in ("bob", "carol")} == {other}
    assert relay.inbound("alice", "4")["clientId"] == first
    assert relay.inbound("bob", "again")["clientId"] == other
    by_client = {cid: len(relay.poll(h)) for cid, h in ((a_id, a), (b_id, b))}
    assert by_client == {first: 4, other: 3}
    loads = relay.call("GET", "/clients", headers=relay.admin).json()["clients"]
    assert {c["id"]: c["pending"] for c in loads} == {first: 4, other: 3}


def test_connected_client_preferred_over_one_never_seen(relay: Relay) -> None:
    live_id, live = relay.register("live")
    relay.register("never-polled")
    relay.poll(live)
    assert {relay.inbound(user, "hi")["clientId"] for user in ("u1", "u2", "u3")} == {live_id}


def test_redelivery_after_lease_expires_without_ack(relay: Relay) -> None:
    _cid, oc = relay.register()
    message = relay.inbound("alice", "hi")
    first = relay.poll(oc, ack="explicit")
    assert [(m["id"], m["deliveryCount"]) for m in first] == [(message["id"], 1)]
    assert relay.poll(oc, ack="explicit") == []  # leased
    relay.clock.advance(61)  # RELAY_LEASE_S is 60
    again = relay.poll(oc, ack="explicit")
    assert [(m["id"], m["deliveryCount"]) for m in again] == [(message["id"], 2)]
    acked = relay.call("POST", "/ack", headers=oc, json={"ids": [message["id"], "msg-nope"]})
    assert acked.status_code == 200 and acked.json()["acked"] == 1
    relay.clock.advance(61)
    assert relay.poll(oc, ack="explicit") == []


def test_conversation_delivered_in_order(relay: Relay) -> None:
    _cid, oc = relay.register()
    one = relay.inbound("alice", "one")
    two = relay.inbound("alice", "two")
    polled = relay.poll(oc, ack="explicit")
    assert [m["id"] for m in polled] == [one["id"], two["id"]]
    assert [m["seq"] for m in polled] == sorted(m["seq"] for m in polled)


def test_idempotent_inbound_retry(relay: Relay) -> None:
    _cid, oc = relay.register()
    key = {"Idempotency-Key": "evt-1"}
    first = relay.inbound("alice", "hi", headers={**relay.admin, **key})
    retry = relay.inbound("alice", "hi", headers={**relay.admin, **key})
    assert retry["id"] == first["id"]
    by_field = relay.call(
        "POST",
        "/inbound",
        headers=relay.admin,
        json={"from": "alice", "text": "hi", "idempotencyKey": "evt-1"},
    )
    assert by_field.json()["id"] == first["id"]
    assert [m["id"] for m in relay.poll(oc)] == [first["id"]]  # stored once
    conflict = relay.call(
        "POST", "/inbound", headers={**relay.admin, **key}, json={"from": "alice", "text": "other"}
    )
    assert_error(conflict, 409, "idempotency_conflict")
    mismatch = relay.call(
        "POST",
        "/inbound",
        headers={**relay.admin, **key},
        json={"from": "alice", "text": "hi", "idempotencyKey": "evt-2"},
    )
    assert_error(mismatch, 422, "idempotency_key_mismatch")


def test_idempotent_send_retry(relay: Relay) -> None:
    _cid, oc = relay.register()
    conv_id = relay.inbound("alice", "hi")["conversationId"]
    relay.poll(oc)
    body = {"conversationId": conv_id, "to": "alice", "text": "hello"}
    first = relay.send(oc, body, key="reply-1").json()["message"]
    retry = relay.send(oc, body, key="reply-1").json()["message"]
    assert retry["id"] == first["id"]
    assert [m["id"] for m in relay.outbox()] == [first["id"]]
    conflict = relay.send(oc, {**body, "text": "changed"}, key="reply-1")
    assert_error(conflict, 409, "idempotency_conflict")


def test_send_acks_explicit_ids(relay: Relay) -> None:
    _cid, oc = relay.register()
    message = relay.inbound("alice", "hi")
    relay.poll(oc, ack="explicit")
    body = {"conversationId": message["conversationId"], "text": "ok", "ackIds": [message["id"]]}
    assert relay.send(oc, body).status_code == 200
    relay.clock.advance(61)
    assert relay.poll(oc, ack="explicit") == []


def test_send_by_recipient_alone_and_mismatch(relay: Relay) -> None:
    _cid, oc = relay.register()
    conv_id = relay.inbound("alice", "hi")["conversationId"]
    relay.poll(oc)
    by_to = relay.send(oc, {"to": "alice", "text": "hello"})
    assert by_to.json()["message"]["conversationId"] == conv_id
    wrong = relay.send(oc, {"to": "bob", "text": "x", "conversationId": conv_id})
    assert_error(wrong, 422, "recipient_mismatch")
    assert_error(relay.send(oc, {"text": "x"}), 422, "conversation_required")


def test_failover_when_client_disconnects(relay: Relay) -> None:
    a_id, a = relay.register("oc1")
    b_id, b = relay.register("oc2")
    relay.poll(a)
    relay.poll(b)
    message = relay.inbound("alice", "hi")
    owner, spare = (a, b) if message["clientId"] == a_id else (b, a)
    spare_id = b_id if owner is a else a_id
    for _step in range(11):  # the spare keeps polling; the owner is silent for 5.5 min
        relay.clock.advance(30)
        relay.poll(spare, ack="explicit")
    assert relay.owner_of(message["conversationId"]) == spare_id
    states = {
        c["id"]: c["state"]
        for c in relay.call("GET", "/clients", headers=relay.admin).json()["clients"]
    }
    assert states[spare_id] == "connected" and "disconnected" in states.values()
    # The gone client comes back: the conversation stays where it moved (sticky).
    assert relay.poll(owner) == []


def test_revoked_client_loses_access_and_its_work(relay: Relay) -> None:
    a_id, a = relay.register("oc1")
    _b_id, b = relay.register("oc2")
    relay.poll(a)
    relay.poll(b)
    message = relay.inbound("alice", "hi")
    owner_id = message["clientId"]
    owner, spare = (a, b) if owner_id == a_id else (b, a)
    revoked = relay.call("DELETE", f"/clients/{owner_id}", headers=relay.admin)
    assert revoked.status_code == 200 and revoked.json()["revokedAt"]
    assert_error(relay.call("GET", "/poll", headers=owner), 401, "token_revoked")
    assert [m["id"] for m in relay.poll(spare)] == [message["id"]]
    missing = relay.call("DELETE", "/clients/client-nope", headers=relay.admin)
    assert_error(missing, 404, "client_not_found")
