"""
An HTTP client for the live server that reads Server-Sent Events as they arrive, with the
time each one came, so tests can assert that an answer streams rather than arrives whole.
"""

import http.client
import json
import secrets
import time
from dataclasses import dataclass
from importlib import import_module
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY


@dataclass
class Event:
    name: str
    data: object
    id: str = None
    at: float = 0.0


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
    """An open SSE response; iterate it for Events, each read as soon as it arrives."""

    def __init__(self, connection, response):
        self.connection = connection
        self.response = response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.comments = []

    def __iter__(self):
        name, data, event_id = "message", [], None
        while True:
            line = self.response.readline()
            if not line:
                return
            line = line.decode().rstrip("\r\n")
            if not line:
                if data:
                    yield Event(name, json.loads("\n".join(data)), event_id, time.monotonic())
                name, data, event_id = "message", [], None
            elif line.startswith(":"):
                self.comments.append((line, time.monotonic()))
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line.startswith("id:"):
                event_id = line[3:].strip()

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

    def create_chat(self, **fields):
        status, data = self.json("POST", "/api/chats/", fields)
        assert status == 201, data
        return data["id"]

    def send(self, chat_id, content, **fields):
        return self.open("POST", f"/api/chats/{chat_id}/messages/", {"content": content, **fields})

    def ask(self, chat_id, content, **fields):
        """Send a message and read the whole answer stream."""
        stream = self.send(chat_id, content, **fields)
        try:
            assert stream.status == 200, stream.response.read()
            return stream.events()
        finally:
            stream.close()


def read_text(events, text):
    """Read the events of a stream until their deltas add up to `text`."""
    received = ""
    while received != text:
        event = next(events)
        if event.name == "delta":
            received += event.data.get("content", "")
