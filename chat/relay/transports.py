"""
Between server processes: how a stop request reaches the process that generates an answer, and
how a stream served by another process follows it. One transport per event loop, chosen from
the settings when it is first needed (at start-up): through the database, or, with REDIS_URL,
through Redis pub/sub with the database behind it.

Both speak the same interface:
- serve(generator): listen for the requests of other processes about the answers `generator`
  generates (through the database there is nothing to listen to: the generator's sweeper
  polls for stop requests); wait_until_serving(timeout) at start-up;
- request_stop(answer_id): ask whichever process generates the answer to stop it; returns the
  answer's status afterwards;
- follow(answer_id, cursor, here): the SSE bytes of an answer that another process generates
  (or that has ended), from `cursor` to its end. `here(answer_id)` tells whether this process
  has started generating it meanwhile, to follow it here instead.

Through the database, a stop is seen within CHAT_STOP_POLL_INTERVAL and the text as it is
saved (CHAT_SAVE_INTERVAL). Through Redis, at once: every process listens on one control
channel for "stop" and "follow" requests about its answers; asked to be followed, it publishes
the answer's new text on the answer's own channel, from the follower's position, until the
answer ends or nobody listens any more. The database stays the record: a follower starts from
it, and falls back to it when Redis or the generating process goes away.
"""

import asyncio
import contextlib
import json
import logging
import time

import redis.asyncio as redis
from django.conf import settings
from django.db import DatabaseError

from chat import sse
from chat.models import Message
from chat.relay import events, store
from chat.relay.followers import follow_live
from runtime import tasks

logger = logging.getLogger("chat.relay")

Status = Message.Status

_transports = {}


def current():
    """This event loop's transport, serving the generator set by serve_generator()."""
    loop = asyncio.get_running_loop()
    key = (id(loop), settings.REDIS_URL, settings.REDIS_PREFIX)
    transport = _transports.get(key)
    if transport is None:
        if settings.REDIS_URL:
            transport = RedisTransport(settings.REDIS_URL, settings.REDIS_PREFIX)
        else:
            transport = DatabaseTransport()
        _transports[key] = transport
    return transport


class DatabaseTransport:
    def serve(self, generator):
        pass

    async def wait_until_serving(self, timeout):
        pass

    async def request_stop(self, answer_id):
        return await store.request_stop(answer_id)

    async def follow(self, answer_id, cursor, here):
        ended = _Ending()
        last_write = time.monotonic()
        failing_since = None
        while True:
            try:
                message = await store.load(answer_id)
            except DatabaseError as exc:
                # The database restarts, or MySQL picked this read as a deadlock's victim: the
                # answer goes on meanwhile, and the next read finds it further on. Not for
                # ever: the generating process cannot save either.
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    logger.warning("following message %s: the database failed (%s); reading again", answer_id, exc)
                elif now - failing_since > settings.CHAT_ABANDONED_SECONDS:
                    raise
                chunk = b""
            else:
                failing_since = None
                if message is None:
                    return
                if (answer := here(answer_id)) is not None:
                    async for chunk in follow_live(answer, cursor):
                        yield chunk
                    return
                chunk = events.saved_deltas(cursor, message)
                if ended(message):
                    yield chunk + events.end(message.outcome())
                    return
            now = time.monotonic()
            if chunk:
                last_write = now
                yield chunk
            elif now - last_write >= settings.SSE_HEARTBEAT_SECONDS:
                last_write = now
                yield sse.PING
            await asyncio.sleep(min(settings.CHAT_SAVE_INTERVAL, settings.SSE_HEARTBEAT_SECONDS) / 2)


class _Ending:
    """Whether a stream of a saved answer ends here: the answer has ended, or was asked to stop."""

    def __init__(self):
        self.stop_seen_at = None

    def __call__(self, message):
        if message.status != Status.STOPPING:
            return not message.is_live
        # The generating process has yet to notice the stop, close the upstream request and
        # save the last of the text. Wait for it, but not for ever: that process may have
        # died meanwhile.
        now = time.monotonic()
        self.stop_seen_at = self.stop_seen_at or now
        return now - self.stop_seen_at > settings.CHAT_STOP_POLL_INTERVAL + settings.CHAT_SAVE_INTERVAL + 2


class RedisTransport:
    def __init__(self, url, prefix):
        self.redis = redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        self.prefix = prefix
        self.control_channel = f"{prefix}control"
        self.listening = asyncio.Event()
        self.database = DatabaseTransport()
        self._generator = None
        self._listener = None
        self._publications = {}

    def answer_channel(self, answer_id):
        return f"{self.prefix}answer:{answer_id}"

    # --- The side that generates answers --------------------------------------------------

    def serve(self, generator):
        self._generator = generator
        if self._listener is None or self._listener.done():
            self._listener = tasks.start(self._listen())

    async def wait_until_serving(self, timeout):
        try:
            await asyncio.wait_for(self.listening.wait(), timeout)
        except TimeoutError:
            logger.warning("Redis at REDIS_URL does not answer; stop and follow go through the database meanwhile")

    async def _listen(self):
        retry_in = 1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(self.control_channel)
                async for item in pubsub.listen():
                    if item["type"] == "subscribe":
                        self.listening.set()
                        retry_in = 1
                    elif item["type"] == "message":
                        self._handle(json.loads(item["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Redis is down or restarting: the database path still works meanwhile.
                self.listening.clear()
                logger.warning("Redis control channel lost (%s); trying again in %ss", exc, retry_in)
                await asyncio.sleep(retry_in)
                retry_in = min(retry_in * 2, 30)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())

    def _handle(self, request):
        answer = self._generator.get(request.get("id")) if self._generator else None
        if answer is None:
            return
        if request.get("op") == "stop":
            answer.stop()
        elif request.get("op") == "follow":
            self._publish(answer, request.get("content", 0), request.get("reasoning", 0))

    def _publish(self, answer, content_from, reasoning_from):
        publication = self._publications.get(answer.id)
        if publication is not None:
            # Already published for another follower: go back to where this one is.
            publication.rewind(content_from, reasoning_from)
            answer.wake()
            return
        publication = self._publications[answer.id] = _Publication(content_from, reasoning_from)
        tasks.start(self._publisher(answer, publication))

    async def _publisher(self, answer, publication):
        channel = self.answer_channel(answer.id)
        try:
            while True:
                finished = answer.is_finished
                update = publication.take(answer)
                if update or finished:
                    update["end"] = finished
                    if not await self.redis.publish(channel, json.dumps(update)) or finished:
                        return  # nobody listens any more, or all is said
                if not answer.is_finished:
                    await answer.changed()
                    # A few tokens to a message rather than one each.
                    await asyncio.sleep(0.01)
        except Exception as exc:
            logger.warning("could not publish message %s to Redis: %s", answer.id, exc)
        finally:
            self._publications.pop(answer.id, None)

    # --- The side that asks ---------------------------------------------------------------

    async def request_stop(self, answer_id):
        try:
            await self.redis.publish(self.control_channel, json.dumps({"op": "stop", "id": answer_id}))
        except Exception as exc:
            logger.warning("could not send a stop request through Redis: %s", exc)
        # Through the database as well: it makes the stop stick whatever happens to Redis.
        return await self.database.request_stop(answer_id)

    async def _request_follow(self, answer_id, cursor):
        request = {
            "op": "follow",
            "id": answer_id,
            "content": cursor.at["content"],
            "reasoning": cursor.at["reasoning"],
        }
        await self.redis.publish(self.control_channel, json.dumps(request))

    async def follow(self, answer_id, cursor, here):
        ended = False
        try:
            async for chunk, last in self._follow_published(answer_id, cursor, here):
                ended = last
                yield chunk
        except Exception as exc:
            logger.warning("following message %s through Redis failed, going on from the database: %s", answer_id, exc)
        if not ended:
            async for chunk in self.database.follow(answer_id, cursor, here):
                yield chunk

    async def _follow_published(self, answer_id, cursor, here):
        """(chunk, whether the stream ended with it) pairs, through Redis."""
        ended = _Ending()
        async with self._updates(answer_id) as next_update:
            # Subscribed before anything is asked: the generating process publishes from where
            # the database leaves this stream, and nothing falls in between.
            message = await store.load(answer_id)
            while True:
                if message is None:
                    yield b"", True
                    return
                if (answer := here(answer_id)) is not None:
                    async for chunk in follow_live(answer, cursor):
                        yield chunk, False
                    yield b"", True
                    return
                chunk = events.saved_deltas(cursor, message)
                if ended(message):
                    yield chunk + events.end(message.outcome()), True
                    return
                if chunk:
                    yield chunk, False
                # Asked again each time: a process that started listening late may have
                # missed the earlier request.
                await self._request_follow(answer_id, cursor)
                while True:
                    update = await next_update(settings.SSE_HEARTBEAT_SECONDS)
                    if update is None:
                        yield sse.PING, False
                        break
                    chunk = events.deltas(cursor, **_stretches(update))
                    if chunk:
                        yield chunk, False
                    if update["end"]:
                        break
                    if chunk is None:
                        # A gap (this process missed an update): ask again from where it is.
                        await self._request_follow(answer_id, cursor)
                # Quiet, or the end: the database tells whether the generating process
                # finished (or died), has the final record, and fills any gap.
                message = await store.load(answer_id)

    @contextlib.asynccontextmanager
    async def _updates(self, answer_id):
        """
        Subscribe to an answer's channel; yields a function that returns the next update
        (a dict), or None after `timeout` seconds without one.
        """
        pubsub = self.redis.pubsub(ignore_subscribe_messages=False)
        try:
            await pubsub.subscribe(self.answer_channel(answer_id))
            # Subscribed only once Redis confirms it: an update published before that is lost.
            confirmation = await pubsub.get_message(timeout=5)
            if not confirmation or confirmation["type"] != "subscribe":
                raise ConnectionError(f"Redis did not confirm the subscription: {confirmation!r}")

            async def next_update(timeout):
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout
                while (left := deadline - loop.time()) > 0:
                    item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
                    if item and item["type"] == "message":
                        return json.loads(item["data"])
                return None

            yield next_update
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(pubsub.aclose())


def _stretches(update):
    """The stretches of text (events.deltas) a Redis update carries."""
    stretches = {}
    if "content" in update:
        stretches["content"] = (update["c"], update["content"])
    if "reasoning" in update:
        stretches["reasoning"] = (update["r"], update["reasoning"])
    return stretches


class _Publication:
    """Where the publication of an answer stands: the marks in its texts (Text.since)."""

    def __init__(self, content_from, reasoning_from):
        self.marks = {"content": (0, 0), "reasoning": (0, 0)}
        self.rewind_to = (content_from, reasoning_from)

    def rewind(self, content_from, reasoning_from):
        current = self.rewind_to or (self.marks["content"][1], self.marks["reasoning"][1])
        self.rewind_to = (min(current[0], content_from), min(current[1], reasoning_from))

    def take(self, answer):
        """The text `answer` has past what was published, as an update; {} for none."""
        if self.rewind_to is not None:
            # From the start of the texts, sliced to the follower's position.
            content_from, reasoning_from = self.rewind_to
            self.rewind_to = None
            self.marks = {"content": (0, 0), "reasoning": (0, 0)}
        else:
            content_from, reasoning_from = self.marks["content"][1], self.marks["reasoning"][1]
        update = {}
        for kind, start_at, text in (
            ("content", content_from, answer.content),
            ("reasoning", reasoning_from, answer.reasoning),
        ):
            start, new, self.marks[kind] = text.since(self.marks[kind])
            new = new[start_at - start :] if start_at > start else new
            if new:
                update[kind[0]] = max(start, start_at)
                update[kind] = new
        return update
