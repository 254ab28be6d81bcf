"""
An HTTP client for a live server (any of tests/support/servers.py, or nginx in front of one)
that reads Server-Sent Events as they arrive, with chat.sse.Reader, as a browser does: with the
time each one came, so tests can assert that an answer streams rather than arrives whole, and
gzip decoded when a proxy compressed it. With the helpers the stream tests share.
"""

import http.client
import json
import secrets
from collections import deque
from importlib import import_module
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

from chat import sse


def session_cookie_for(user):
    """A logged-in session for `user`, made the way django.test.Client.force_login does."""
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


class Stream:
    """
    An open SSE response; iterate it for Events, each read as soon as it arrives (every
    iterator of a stream goes on where the last one stopped), until the server ends it, cleanly
    or not. The heartbeats and other comment lines are in `comments`, as (line, arrival time).
    """

    def __init__(self, connection, response):
        self.connection = connection
        self.response = response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self._reader = None
        self._pending = deque()

    @property
    def comments(self):
        return self._reader.comments if self._reader else []

    def __iter__(self):
        if self._reader is None:
            self._reader = sse.Reader(self.headers.get("content-encoding", ""))
        while True:
            while self._pending:
                yield self._pending.popleft()
            try:
                data = self.response.read1(65536)
            except http.client.IncompleteRead:
                return  # the server closed the connection in the middle of the response
            if not data:
                return
            self._pending.extend(self._reader.feed(data))

    def events(self):
        return list(self)

    def json(self):
        return json.loads(self.response.read())

    def close(self):
        self.connection.close()


class LiveClient:
    def __init__(self, base_url, user=None):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.csrf = secrets.token_hex(16)
        self.cookies = {"csrftoken": self.csrf}
        if user is not None:
            self.cookies[settings.SESSION_COOKIE_NAME] = session_cookie_for(user)

    def _headers(self, extra=None, *, csrf=True):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Content-Type": "application/json"}
        if csrf:
            headers["X-CSRFToken"] = self.csrf
        headers.update(extra or {})
        return headers

    def open(self, method, path, body=None, headers=None, *, csrf=True, timeout=30):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        payload = json.dumps(body) if body is not None and not isinstance(body, (str, bytes)) else body
        connection.request(method, path, body=payload, headers=self._headers(headers, csrf=csrf))
        return Stream(connection, connection.getresponse())

    def json(self, method, path, body=None, **kwargs):
        stream = self.open(method, path, body, **kwargs)
        try:
            raw = stream.response.read()
            return stream.status, (json.loads(raw) if raw else None)
        finally:
            stream.close()

    def create_conversation(self, **fields):
        status, data = self.json("POST", "/api/chats/", fields)
        assert status == 201, data
        return data["id"]

    def send(self, conversation_id, content, **fields):
        return self.open("POST", f"/api/chats/{conversation_id}/messages/", {"content": content, **fields})

    def ask(self, conversation_id, content, **fields):
        """Send a message and read the whole answer stream."""
        stream = self.send(conversation_id, content, **fields)
        try:
            assert stream.status == 200, stream.response.read()
            return stream.events()
        finally:
            stream.close()


def text_of(events, kind="content"):
    """The text of the `kind` ("content" or "reasoning") deltas among `events`."""
    return "".join(e.data.get(kind, "") for e in events if e.name == "delta")


def read_until(events, predicate):
    """Read `events` until predicate(the events read so far) holds; returns those events."""
    seen = []
    for event in events:
        seen.append(event)
        if predicate(seen):
            return seen
    raise AssertionError(f"stream ended early: {seen}")


def read_text(events, text):
    """Read the events of a stream until their deltas add up to `text`."""
    return read_until(events, lambda seen: text_of(seen) == text)


def parse(body):
    """The events of a whole response body, read at once."""
    return sse.Reader().feed(body)
