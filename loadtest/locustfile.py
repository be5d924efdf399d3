"""Locust load test for chatapp: realistic chat users over the WebSocket protocol (docs/protocol.md).

Each simulated user opens `/ws`, sends `hello`, joins one room and then, at a human pace (one message
every CHATAPP_MIN_WAIT..CHATAPP_MAX_WAIT seconds, default 2..10), sends a message. A background
greenlet receives every frame. Locust sees these request events:

  WS connect   open the socket + hello + welcome + join + joined (time to a usable session)
  HTTP register  POST /api/register, when the chat does not let guests post (see below)
  HTTP login     POST /api/login: an ended session, or an account shared past the server's
                 registration limit
  WS ack       send -> ack (the message is durably stored)
  WS message   send -> the user's own message delivered back (end-to-end latency)
  WS error     an error frame from the server, or a message never delivered (timeout)

Accounts: when the server's `welcome` says `guest_posting: false` (guests only read), each user
registers an account once (POST /api/register, username = its name, a random password), which
signs it in with the session cookie, and opens the socket again with that cookie; a later
reconnect reuses the cookie, or logs in again when the session ended. The server limits
registrations per client address (Locust's users share one): once it answers 429, further users
log in to an account this process already made (HTTP login) and chat under its name. A server that says nothing
about guest posting (before accounts) lets everyone post, and users stay guests.

The host comes from Locust's --host (or the web UI): http://h:p becomes ws://h:p/ws, https becomes
wss; a ws:// or wss:// URL is used as given. Environment knobs (all optional):

  CHATAPP_ROOMS       comma-separated rooms to spread users over (default "general"); missing rooms
                      are created on first join
  CHATAPP_MIN_WAIT    seconds between two sends of one user, lower bound (default 2)
  CHATAPP_MAX_WAIT    upper bound (default 10)
  CHATAPP_CONTENT_BYTES  approximate message size (default 64)
  CHATAPP_TIMEOUT     seconds before an undelivered message counts as a failure (default 30)

Run headless against a local server (see docs/loadtest.md):

  locust -f loadtest/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8080
"""

import json
import os
import random
import time
import uuid

import gevent
import requests
import websocket
from locust import User, between, task

ROOMS = [r.strip() for r in os.environ.get("CHATAPP_ROOMS", "general").split(",") if r.strip()]
MIN_WAIT = float(os.environ.get("CHATAPP_MIN_WAIT", "2"))
MAX_WAIT = float(os.environ.get("CHATAPP_MAX_WAIT", "10"))
CONTENT_BYTES = int(os.environ.get("CHATAPP_CONTENT_BYTES", "64"))
TIMEOUT = float(os.environ.get("CHATAPP_TIMEOUT", "30"))
HANDSHAKE_TIMEOUT = 10.0
SESSION_COOKIE = "chatapp_session"


def http_url(host):
    """Turn Locust's --host into the HTTP base URL the /api endpoints live under."""
    host = (host or "http://127.0.0.1:8080").rstrip("/")
    for ws, http in (("wss://", "https://"), ("ws://", "http://")):
        if host.startswith(ws):
            host = http + host[len(ws):]
    if not host.startswith(("http://", "https://")):
        host = "http://" + host
    if host.endswith("/ws"):
        host = host[: -len("/ws")]
    return host


def session_cookie(response):
    """The session token from a register/login answer's Set-Cookie (whatever its Secure flag)."""
    for header in response.raw.headers.getlist("Set-Cookie") if response.raw else []:
        name, _, rest = header.partition("=")
        if name.strip() == SESSION_COOKIE:
            return rest.split(";", 1)[0]
    token = response.cookies.get(SESSION_COOKIE)
    if not token:
        raise RuntimeError(f"no {SESSION_COOKIE} cookie in the answer ({response.status_code})")
    return token


class RateLimited(Exception):
    """The server's budget for this client address is spent (HTTP 429)."""


# Accounts this Locust process registered, (username, password): the server allows a client
# address a limited number of registrations per hour (all of Locust's users share its address),
# so users beyond that sign in to one of these instead.
ACCOUNTS = []


def ws_url(host):
    """Turn Locust's --host into the WebSocket endpoint URL."""
    host = (host or "http://127.0.0.1:8080").rstrip("/")
    if host.startswith("https://"):
        host = "wss://" + host[len("https://"):]
    elif host.startswith("http://"):
        host = "ws://" + host[len("http://"):]
    elif not host.startswith(("ws://", "wss://")):
        host = "ws://" + host
    scheme, rest = host.split("://", 1)
    if "/" not in rest:
        rest += "/ws"
    return scheme + "://" + rest


class ChatUser(User):
    """One chat participant: connects, joins a room, chats at a human pace."""

    wait_time = between(MIN_WAIT, MAX_WAIT)

    def on_start(self):
        self.ws = None
        self.receiver = None
        self.pending = {}  # client_id -> [perf_counter at send, acked]
        self.name = "locust-" + uuid.uuid4().hex[:8]
        self.room = random.choice(ROOMS) if ROOMS else "general"
        self.password = None  # set once this user has an account
        self.cookie = None  # the session token, once signed in
        self._connect()

    def _connect(self):
        """Open the socket, identify and join; on failure report it and retry at the next task."""
        started = time.perf_counter()
        try:
            welcome = self._open()
            if welcome.get("user") is None and welcome.get("guest_posting") is False:
                # Guests only read here: sign in (an account made once), then open again.
                self._close()
                self._sign_in()
                welcome = self._open()
                if welcome.get("user") is None:
                    raise RuntimeError("signed in, but the socket is still a guest's")
            self._join()
        except Exception as exc:  # noqa: BLE001 - every failure is reported to Locust
            self._fire("connect", started, exception=exc)
            self._close()
            return
        self._fire("connect", started)
        self.ws.settimeout(None)
        self.receiver = gevent.spawn(self._receive)

    def _open(self):
        """Open the socket (with the session cookie when signed in), say hello, return welcome."""
        cookie = f"{SESSION_COOKIE}={self.cookie}" if self.cookie else None
        self.ws = websocket.create_connection(
            ws_url(self.host), timeout=HANDSHAKE_TIMEOUT, suppress_origin=True, cookie=cookie
        )
        self._send({"type": "hello", "name": self.name})
        return self._expect("welcome")

    def _sign_in(self):
        """Sign this user in: register an account of its own the first time; when the server's
        registration budget for this address is spent (429), share one of the accounts this
        process made; after a session ended, log in again."""
        if self.password is not None:
            self.cookie = self._post("login", self.name, self.password)
            return
        password = uuid.uuid4().hex
        try:
            self.cookie = self._post("register", self.name, password)
        except RateLimited:
            if not ACCOUNTS:
                raise
            # Several sockets of one account are fine: its messages still match by client_id.
            self.name, password = random.choice(ACCOUNTS)
            self.cookie = self._post("login", self.name, password)
        else:
            ACCOUNTS.append((self.name, password))
        self.password = password

    def _post(self, name, username, password):
        """POST /api/<name> (register, login) as JSON; returns the session token. Reported to
        Locust as `HTTP <name>`."""
        started = time.perf_counter()
        try:
            response = requests.post(
                f"{http_url(self.host)}/api/{name}",
                json={"username": username, "password": password},
                timeout=HANDSHAKE_TIMEOUT,
            )
            if response.status_code == 429:
                raise RateLimited(f"/api/{name}: 429 {response.text[:200]}")
            if response.status_code not in (200, 201):
                raise RuntimeError(f"/api/{name}: {response.status_code} {response.text[:200]}")
            token = session_cookie(response)
        except RateLimited:
            raise  # not a failure of the server: the caller shares an account instead
        except Exception as exc:
            self._fire(name, started, exception=exc, request_type="HTTP")
            raise
        self._fire(name, started, length=len(response.content), request_type="HTTP")
        return token

    def on_stop(self):
        self._close()

    @task
    def send_message(self):
        if self.ws is None:
            self._connect()  # the previous socket failed: reconnect, send at the next turn
            return
        self._expire_pending()
        client_id = uuid.uuid4().hex
        filler = "x" * max(0, CONTENT_BYTES - 20)
        frame = {
            "type": "send",
            "room": self.room,
            "topic": "load",
            "content": f"{self.name} {filler}",
            "client_id": client_id,
        }
        self.pending[client_id] = [time.perf_counter(), False]
        try:
            self._send(frame)
        except Exception as exc:  # noqa: BLE001
            self.pending.pop(client_id, None)
            self._fire("message", time.perf_counter(), exception=exc)
            self._close()

    # --- receiving -------------------------------------------------------------------------

    def _receive(self):
        """Background greenlet: read every frame and match our own messages to their send time."""
        try:
            while True:
                raw = self.ws.recv()
                if not raw:
                    break
                self._handle(raw)
        except Exception as exc:  # noqa: BLE001
            if self.ws is not None:  # not a deliberate close from on_stop
                self._fire("connect", time.perf_counter(), exception=exc)
        # The socket is gone (server closed it or it failed): reconnect at the next task.
        if self.ws is not None:
            ws, self.ws, self.receiver = self.ws, None, None
            try:
                ws.close()
            except Exception:  # noqa: BLE001
                pass

    def _handle(self, raw):
        frame = json.loads(raw)
        kind = frame.get("type")
        client_id = frame.get("client_id")
        entry = self.pending.get(client_id) if client_id else None
        if kind == "ack" and entry is not None and not entry[1]:
            entry[1] = True
            self._fire("ack", entry[0], length=len(raw))
        elif kind == "message" and entry is not None and frame.get("name") == self.name:
            del self.pending[client_id]
            self._fire("message", entry[0], length=len(raw))
        elif kind == "error":
            if entry is not None:
                del self.pending[client_id]
            err = RuntimeError(f"{frame.get('code')}: {frame.get('message')}")
            self._fire("error", entry[0] if entry else time.perf_counter(), exception=err)

    def _expire_pending(self):
        now = time.perf_counter()
        for client_id, (sent, _) in list(self.pending.items()):
            if now - sent > TIMEOUT:
                del self.pending[client_id]
                self._fire("message", sent, exception=TimeoutError("message not delivered"))

    # --- handshake helpers -----------------------------------------------------------------

    def _join(self):
        self._send({"type": "join", "room": self.room})
        frame = self._expect("joined", allow_error=True)
        if frame.get("type") == "error" and frame.get("code") == "no_such_room":
            self._send({"type": "create_room", "name": self.room})
            self._expect("room_created", allow_error=True)  # room_exists is fine: a race
            self._send({"type": "join", "room": self.room})
            frame = self._expect("joined")
        elif frame.get("type") == "error":
            raise RuntimeError(f"join failed: {frame}")

    def _expect(self, kind, allow_error=False):
        """Read frames until one of type `kind` (or an error, when allowed) arrives."""
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        while time.monotonic() < deadline:
            frame = json.loads(self.ws.recv())
            if frame.get("type") == kind:
                return frame
            if frame.get("type") == "error":
                if allow_error:
                    return frame
                raise RuntimeError(f"expected {kind}, got {frame}")
        raise TimeoutError(f"no {kind} within {HANDSHAKE_TIMEOUT}s")

    def _send(self, frame):
        self.ws.send(json.dumps(frame, separators=(",", ":")))

    def _close(self):
        ws, self.ws = self.ws, None
        if self.receiver is not None:
            self.receiver.kill(block=False)
            self.receiver = None
        if ws is not None:
            try:
                ws.close()
            except Exception:  # noqa: BLE001
                pass

    def _fire(self, name, started, length=0, exception=None, request_type="WS"):
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=length,
            exception=exception,
            context={"room": self.room},
        )
