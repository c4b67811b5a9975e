"""A long-poll whose client hung up leases nothing: the message goes to the next poll.

Real sockets (uvicorn in a thread, see ``connector_harness.RelayServer``): a client gives
up on a long-poll (its read times out and it closes the connection), a message is then
queued for it, and its next poll gets that message at once instead of after the lease.
"""

import secrets
import time

import httpx

from connector_harness import RelayServer


def test_a_hung_up_long_poll_claims_nothing(tmp_path):
    admin_token = secrets.token_urlsafe(32)
    relay = RelayServer(tmp_path / "relay.db", admin_token, lease_s=30.0, poll_max_wait_s=5.0)
    relay.start()
    try:
        admin = httpx.Client(base_url=relay.url, headers={"Authorization": f"Bearer {admin_token}"})
        created = admin.post("/clients", json={"name": "gw1"}).json()
        client_auth = {"Authorization": f"Bearer {created['token']}"}
        with httpx.Client(base_url=relay.url, headers=client_auth, timeout=0.3) as gone:
            try:
                gone.get("/poll", params={"wait": 5, "ack": "explicit"})
                raise AssertionError("the long-poll answered before any message was queued")
            except httpx.ReadTimeout:
                pass  # the client gave up; closing the client closes the connection
        time.sleep(0.3)  # the relay sees the connection closed
        sent = admin.post("/inbound", json={"from": "alice", "text": "hello"})
        assert sent.status_code == 200, sent.text
        time.sleep(0.3)  # the abandoned long-poll wakes now, and must claim nothing
        with httpx.Client(base_url=relay.url, headers=client_auth, timeout=5) as back:
            polled = back.get("/poll", params={"ack": "explicit"}).json()["messages"]
        assert [m["text"] for m in polled] == ["hello"]
        assert polled[0]["deliveryCount"] == 1
        admin.close()
    finally:
        relay.stop(wait=False)
