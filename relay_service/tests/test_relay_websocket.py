"""The client WebSocket ``/ws``: bearer auth on the upgrade, pushed messages, the same
leases and explicit acks as ``/poll``, replies by ``send``, and refusals as frames."""

import time
from collections.abc import Callable

import pytest
from starlette.testclient import WebSocketDenialResponse

from relay_helpers import Relay, assert_error, bearer
from relay_ws_helpers import connect

SEED_MESSAGE_FIELDS = {"id", "conversationId", "clientId", "from", "to", "text", "timestamp"}


def test_upgrade_is_refused_with_the_http_envelope(relay: Relay) -> None:
    client_id, oc = relay.register()
    _iid, web = relay.integration()
    refusals = [  # no Authorization at all is the signed hello's way in (its own tests)
        (bearer("rc_" + "x" * 43), 401, "auth_failed"),
        ({"Authorization": ""}, 401, "auth_required"),
        ({"Authorization": "Basic YTpi"}, 401, "auth_required"),
        (web, 403, "wrong_token_kind"),
        (relay.admin, 403, "wrong_token_kind"),
    ]
    for headers, status, code in refusals:
        with pytest.raises(WebSocketDenialResponse) as denied:
            relay.http.websocket_connect("/ws", headers=headers).__enter__()
        assert_error(denied.value, status, code)
        assert not any(token in denied.value.text for token in relay.tokens)
    relay.call("DELETE", f"/clients/{client_id}", headers=relay.admin)
    with pytest.raises(WebSocketDenialResponse) as denied:
        relay.http.websocket_connect("/ws", headers=oc).__enter__()
    assert_error(denied.value, 401, "token_revoked")


def test_ready_then_messages_pushed_as_they_are_queued(relay: Relay) -> None:
    client_id, oc = relay.register()
    with relay.http.websocket_connect("/ws", headers={**oc, "X-Trace-Id": "ws-trace-1"}) as raw:
        assert (b"x-trace-id", b"ws-trace-1") in raw.extra_headers
        ready = raw.receive_json()
        assert ready["type"] == "ready" and ready["clientId"] == client_id
        assert (ready["leaseS"], ready["trace_id"]) == (60, "ws-trace-1")
    with connect(relay, oc) as ws:
        started = time.monotonic()
        message = relay.inbound("alice", "hi")
        pushed = ws.expect("messages")["messages"]
        assert time.monotonic() - started < 1.0
        assert [m["id"] for m in pushed] == [message["id"]]
        assert pushed[0].keys() >= SEED_MESSAGE_FIELDS | {"seq", "deliveryCount"}
        assert pushed[0]["deliveryCount"] == 1 and pushed[0]["clientId"] == client_id
        clients = relay.call("GET", "/clients", headers=relay.admin).json()["clients"]
        assert clients[0]["state"] == "connected"


def test_queued_before_connecting_is_pushed_at_once(relay: Relay) -> None:
    _cid, oc = relay.register()
    first = relay.inbound("alice", "one")
    second = relay.inbound("bob", "two")
    with connect(relay, oc) as ws:
        pushed = ws.expect("messages")["messages"]
        assert [m["id"] for m in pushed] == [first["id"], second["id"]]


def test_unacked_messages_come_back_after_the_lease(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(sweep_interval_s=0.05)  # the sweep wakes the socket when a lease ends
    _cid, oc = relay.register()
    message = relay.inbound("alice", "hi")
    with connect(relay, oc) as ws:
        assert ws.expect("messages")["messages"][0]["deliveryCount"] == 1
        ws.nothing_within(0.2)  # leased: not sent again
        relay.clock.advance(61)
        again = ws.expect("messages")["messages"]
        assert [(m["id"], m["deliveryCount"]) for m in again] == [(message["id"], 2)]
        ws.send({"type": "ack", "ids": [message["id"], "msg-nope"], "ref": "a1"})
        assert ws.expect("acked") == {"type": "acked", "ref": "a1", "acked": 1}
        relay.clock.advance(61)
        ws.nothing_within(0.3)


def test_a_conversation_goes_on_after_its_ack(relay: Relay) -> None:
    _cid, oc = relay.register()
    one = relay.inbound("alice", "one")
    with connect(relay, oc) as ws:
        assert [m["id"] for m in ws.expect("messages")["messages"]] == [one["id"]]
        two = relay.inbound("alice", "two")
        ws.nothing_within(0.2)  # in order: "one" is still in flight
        ws.send({"type": "ack", "ids": [one["id"]]})
        assert ws.expect("acked")["acked"] == 1
        assert [m["id"] for m in ws.expect("messages")["messages"]] == [two["id"]]


def test_send_replies_and_acks(relay: Relay) -> None:
    _cid, oc = relay.register()
    message = relay.inbound("alice", "hi")
    conv_id = message["conversationId"]
    with connect(relay, oc) as ws:
        ws.expect("messages")
        send = {
            "type": "send",
            "ref": "s1",
            "conversationId": conv_id,
            "to": "alice",
            "text": "hello",
            "idempotencyKey": "reply-1",
        }
        ws.send(send)
        sent = ws.expect("sent")
        assert sent["ref"] == "s1" and sent["message"]["text"] == "hello"
        assert sent["message"].keys() >= SEED_MESSAGE_FIELDS
        ws.send({**send, "ref": "s2"})  # a retry: the same reply, nothing new stored
        assert ws.expect("sent")["message"]["id"] == sent["message"]["id"]
        ws.send({**send, "ref": "s3", "text": "changed"})
        conflict = ws.expect("error")
        assert (conflict["ref"], conflict["error_code"]) == ("s3", "idempotency_conflict")
    assert [m["id"] for m in relay.outbox()] == [sent["message"]["id"]]
    relay.clock.advance(61)
    assert relay.poll(oc, ack="explicit") == []  # the send acked "hi"


def test_another_clients_conversation_is_not_found(relay: Relay) -> None:
    a_id, a = relay.register("oc1")
    _b_id, b = relay.register("oc2")
    relay.poll(a)
    relay.poll(b)
    message = relay.inbound("alice", "hi")
    stranger = b if message["clientId"] == a_id else a
    with connect(relay, stranger) as ws:
        ws.send({"type": "send", "conversationId": message["conversationId"], "text": "mine"})
        assert ws.expect("error")["error_code"] == "conversation_not_found"


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '{"no": "type"}',
        '{"type": "subscribe", "ref": "r1"}',
        '{"type": "ack", "ids": [], "ref": "r1"}',
        '{"type": "send", "conversationId": "c", "ref": "r1"}',
        '{"type": "send", "text": "", "conversationId": "c", "ref": "r1"}',
    ],
)
def test_invalid_frames_are_answered_and_the_socket_stays(relay: Relay, frame: str) -> None:
    _cid, oc = relay.register()
    with connect(relay, oc) as ws:
        ws.session.send_text(frame)
        error = ws.expect("error")
        assert error["error_code"] == "invalid_request" and error["error"]
        assert error["ref"] == ("r1" if '"ref"' in frame else None)
        ws.send({"type": "ping", "ref": "p"})
        assert ws.expect("pong") == {"type": "pong", "ref": "p"}


def test_binary_frames_are_refused(relay: Relay) -> None:
    _cid, oc = relay.register()
    with connect(relay, oc) as ws:
        ws.session.send_bytes(b'{"type": "ping"}')
        assert ws.expect("error")["error_code"] == "invalid_request"


def test_size_and_rate_refusals(make_relay: Callable[..., Relay]) -> None:
    relay = make_relay(max_body_bytes=1024, max_text_chars=50, client_burst=4)
    _cid, oc = relay.register()
    conv_id = relay.inbound("alice", "hi")["conversationId"]
    with connect(relay, oc) as ws:  # the upgrade and each frame take one of the client's 4
        ws.expect("messages")
        ws.send({"type": "send", "conversationId": conv_id, "text": "x" * 51, "ref": "t"})
        assert ws.expect("error")["error_code"] == "text_too_long"
        ws.send({"type": "send", "conversationId": conv_id, "text": "x" * 2000, "ref": "b"})
        too_big = ws.expect("error")
        assert (too_big["error_code"], too_big["ref"]) == ("request_too_large", None)
        ws.send({"type": "ping"})
        assert ws.expect("pong")
        ws.send({"type": "ping", "ref": "r"})
        limited = ws.expect("error")  # refused before parsing: no ref
        assert (limited["error_code"], limited["ref"]) == ("rate_limited", None)
        assert limited["retryAfter"] >= 1
    metrics = relay.call("GET", "/metrics", headers=relay.admin).text
    assert 'relay_refusals_total{code="text_too_long"} 1.0' in metrics
    assert 'relay_refusals_total{code="request_too_large"} 1.0' in metrics
    assert 'relay_refusals_total{code="rate_limited"} 1.0' in metrics


def test_closing_leaves_unacked_messages_to_redelivery(relay: Relay) -> None:
    _cid, oc = relay.register()
    message = relay.inbound("alice", "hi")
    with connect(relay, oc) as ws:
        ws.expect("messages")
    assert relay.poll(oc, ack="explicit") == []  # still leased to the closed socket
    relay.clock.advance(61)
    again = relay.poll(oc, ack="explicit")
    assert [(m["id"], m["deliveryCount"]) for m in again] == [(message["id"], 2)]
    relay.clock.advance(61)
    with connect(relay, oc) as ws:  # a socket opened later gets it at once
        pushed = ws.expect("messages")["messages"]
        assert [(m["id"], m["deliveryCount"]) for m in pushed] == [(message["id"], 3)]


def test_revoked_while_connected_is_closed(relay: Relay) -> None:
    client_id, oc = relay.register()
    with connect(relay, oc) as ws:
        relay.call("DELETE", f"/clients/{client_id}", headers=relay.admin)
        assert ws.expect("error")["error_code"] == "token_revoked"  # at once, unasked
        assert ws.closed()["code"] == 1008


def test_open_sockets_are_a_gauge(relay: Relay) -> None:
    _cid, oc = relay.register()

    def gauge() -> str:
        text = relay.call("GET", "/metrics", headers=relay.admin).text
        return next(line for line in text.splitlines() if line.startswith("relay_websocket_"))

    with connect(relay, oc):
        assert gauge() == "relay_websocket_connections 1.0"
    deadline = time.monotonic() + 2
    while gauge() != "relay_websocket_connections 0.0" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gauge() == "relay_websocket_connections 0.0"


def test_http_get_on_the_socket_path_is_an_envelope(relay: Relay) -> None:
    assert_error(relay.call("GET", "/ws"), 404, "not_found")
