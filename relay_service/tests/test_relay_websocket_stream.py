"""Streamed reply chunks (``/ws`` ``chunk`` → ``GET /stream``) and cancels (``POST /cancel``
→ the message is acked and the client's sockets get ``cancel``)."""

from collections.abc import Callable

from relay_helpers import Relay, assert_error
from relay_ws_helpers import connect


def chunk(message: dict, seq: int, text: str, **extra: object) -> dict:
    """A ``chunk`` frame replying to ``message``."""
    return {
        "type": "chunk",
        "conversationId": message["conversationId"],
        "replyTo": message["id"],
        "seq": seq,
        "text": text,
        **extra,
    }


def streams(relay: Relay, headers: dict[str, str], **params: str) -> list[dict]:
    response = relay.call("GET", "/stream", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["streams"]


def test_chunks_show_on_the_stream_until_the_final_send(relay: Relay) -> None:
    _cid, oc = relay.register()
    _iid, web = relay.integration()
    _other, other_web = relay.integration("other")
    message = relay.inbound("alice", "tell me", headers=web)
    with connect(relay, oc) as ws:
        ws.expect("messages")
        ws.send(chunk(message, 1, "world", ref="c1"))
        assert ws.expect("chunked") == {
            "type": "chunked",
            "ref": "c1",
            "replyTo": message["id"],
            "seq": 1,
        }
        ws.send(chunk(message, 0, "hello "))  # no ref: no answer
        ws.send(chunk(message, 2, "?"))
        ws.send(chunk(message, 2, "!"))  # a retransmission replaces its seq
        ws.send({"type": "ping", "ref": "p"})
        assert ws.expect("pong")["ref"] == "p"  # nothing came for the ref-less chunks
        (stream,) = streams(relay, web)
        assert stream["text"] == "hello world!"
        assert (stream["replyTo"], stream["to"], stream["seq"], stream["chunks"]) == (
            message["id"],
            "alice",
            2,
            3,
        )
        assert stream["conversationId"] == message["conversationId"]
        assert streams(relay, web, conversationId=message["conversationId"]) == [stream]
        assert streams(relay, web, conversationId="conv-other") == []
        assert streams(relay, other_web) == []  # another integration's users: not shown
        assert streams(relay, relay.admin) == []  # the admin reads the default integration
        ws.send(
            {
                "type": "send",
                "conversationId": message["conversationId"],
                "text": "hello world!",
                "ackIds": [message["id"]],
            }
        )
        ws.expect("sent")
    assert streams(relay, web) == []
    assert [m["text"] for m in relay.outbox(web)] == ["hello world!"]


def test_chunks_need_the_clients_own_message_in_flight(relay: Relay) -> None:
    a_id, a = relay.register("oc1")
    _b_id, b = relay.register("oc2")
    relay.poll(a)
    relay.poll(b)
    message = relay.inbound("alice", "hi")
    mine, stranger = (a, b) if message["clientId"] == a_id else (b, a)
    with connect(relay, stranger) as ws:
        ws.send(chunk(message, 0, "x", ref="s"))
        error = ws.expect("error")
        assert (error["error_code"], error["ref"]) == ("message_not_found", "s")
    with connect(relay, mine) as ws:
        ws.expect("messages")
        ws.send(chunk({**message, "conversationId": "conv-nope"}, 0, "x", ref="w"))
        assert ws.expect("error")["error_code"] == "message_not_found"
        ws.send({"type": "ack", "ids": [message["id"]]})
        ws.expect("acked")
        ws.send(chunk(message, 0, "late", ref="l"))  # acked: nothing in flight any more
        assert ws.expect("error")["error_code"] == "message_not_found"
    assert streams(relay, relay.admin) == []


def test_a_stream_is_bounded_and_forgotten_after_the_lease(
    make_relay: Callable[..., Relay],
) -> None:
    relay = make_relay(max_text_chars=10)
    _cid, oc = relay.register()
    message = relay.inbound("alice", "hi")
    with connect(relay, oc) as ws:
        ws.expect("messages")
        ws.send(chunk(message, 0, "12345", ref="a"))
        ws.expect("chunked")
        ws.send(chunk(message, 1, "123456", ref="b"))
        assert ws.expect("error")["error_code"] == "text_too_long"
        ws.send(chunk(message, 0, "1234567890", ref="c"))  # replacing seq 0 fits
        ws.expect("chunked")
        assert streams(relay, relay.admin)[0]["text"] == "1234567890"
        relay.clock.advance(61)  # the lease: a stream without news is dropped
        assert streams(relay, relay.admin) == []


def test_an_ack_drops_the_stream(relay: Relay) -> None:
    _cid, oc = relay.register()
    message = relay.inbound("alice", "hi")
    with connect(relay, oc) as ws:
        ws.expect("messages")
        ws.send(chunk(message, 0, "par", ref="a"))
        ws.expect("chunked")
        ws.send({"type": "ack", "ids": [message["id"]]})
        ws.expect("acked")
    assert streams(relay, relay.admin) == []


def test_cancel_acks_the_message_and_tells_the_socket(relay: Relay) -> None:
    _cid, oc = relay.register()
    _iid, web = relay.integration()
    _other, other_web = relay.integration("other")
    first = relay.inbound("alice", "one", headers=web)
    with connect(relay, oc) as ws:
        assert [m["id"] for m in ws.expect("messages")["messages"]] == [first["id"]]
        second = relay.inbound("alice", "two", headers=web)
        ws.nothing_within(0.2)  # in order: "one" is in flight
        ws.send(chunk(first, 0, "thinking", ref="c"))
        ws.expect("chunked")
        foreign = relay.call("POST", "/cancel", json={"messageId": first["id"]}, headers=other_web)
        assert_error(foreign, 404, "message_not_found")
        done = relay.call("POST", "/cancel", json={"messageId": first["id"]}, headers=web)
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["messageId"], body["cancelled"], body["notified"]) == (first["id"], True, 1)
        assert ws.expect("cancel") == {
            "type": "cancel",
            "messageId": first["id"],
            "conversationId": first["conversationId"],
        }
        assert streams(relay, web) == []
        # The conversation goes on with its next message at once.
        assert [m["id"] for m in ws.expect("messages")["messages"]] == [second["id"]]
        again = relay.call("POST", "/cancel", json={"messageId": first["id"]}, headers=web)
        assert (again.json()["cancelled"], again.json()["notified"]) == (False, 0)
        ws.nothing_within(0.2)  # no second cancel frame
        relay.clock.advance(61)  # both leases ran out; only the un-acked one comes back
        redelivered = relay.poll(oc, ack="explicit")
        assert [m["id"] for m in redelivered] == [second["id"]]  # never the cancelled one
    missing = relay.call("POST", "/cancel", json={"messageId": "msg-nope"}, headers=web)
    assert_error(missing, 404, "message_not_found")


def test_a_message_cancelled_before_delivery_is_never_delivered(relay: Relay) -> None:
    _cid, oc = relay.register()
    message = relay.inbound("alice", "never mind")
    done = relay.call("POST", "/cancel", json={"messageId": message["id"]}, headers=relay.admin)
    assert (done.json()["cancelled"], done.json()["notified"]) == (True, 0)
    assert relay.poll(oc, ack="explicit") == []
    with connect(relay, oc) as ws:
        ws.nothing_within(0.2)
    pending = relay.call("GET", "/clients", headers=relay.admin).json()["clients"][0]["pending"]
    assert pending == 0
