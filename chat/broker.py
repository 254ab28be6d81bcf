"""
Optional Redis pub/sub between the server's processes, on when REDIS_URL is set.

Without it, a stop request or a stream that lands on another process than the one that
generates the answer reaches that process through the database: within
CHAT_STOP_POLL_INTERVAL for a stop, CHAT_SAVE_INTERVAL for the text. With it, at once.

Every process listens on one control channel for "stop" and "follow" requests about the
answers it generates. Asked to be followed, it publishes the answer's new text on the
answer's own channel, starting from the position the follower already has, until the
answer ends or no process listens any more. The database stays the record: a follower
starts from it, and falls back to it when Redis or the generating process goes away.
"""

import asyncio
import contextlib
import contextvars
import json
import logging

import redis.asyncio as redis
from django.conf import settings

logger = logging.getLogger(__name__)

_brokers = {}


def get():
    """This event loop's broker, or None when REDIS_URL is not set."""
    if not settings.REDIS_URL:
        return None
    key = (id(asyncio.get_running_loop()), settings.REDIS_URL, settings.REDIS_PREFIX)
    broker = _brokers.get(key)
    if broker is None:
        broker = _brokers[key] = Broker(settings.REDIS_URL, settings.REDIS_PREFIX)
    broker.listen()
    return broker


class Broker:
    def __init__(self, url, prefix):
        self.redis = redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
        self.prefix = prefix
        self.control_channel = f"{prefix}control"
        self.listening = asyncio.Event()
        self._listener = None
        self._publishers = {}

    def answer_channel(self, message_id):
        return f"{self.prefix}answer:{message_id}"

    # --- The side that generates answers --------------------------------------------------

    def listen(self):
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen(), context=contextvars.Context())

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
        from chat.relay import relay

        answer = relay.get(request.get("id"))
        if answer is None:
            return
        if request.get("op") == "stop":
            answer.stop()
        elif request.get("op") == "follow":
            self._publish(answer, request.get("content", 0), request.get("reasoning", 0))

    def _publish(self, answer, content_from, reasoning_from):
        publication = self._publishers.get(answer.message_id)
        if publication is not None:
            # Already published for another follower: go back to where this one is.
            publication.rewind(content_from, reasoning_from)
            answer.wake()
            return
        publication = self._publishers[answer.message_id] = _Publication(content_from, reasoning_from)
        asyncio.get_running_loop().create_task(self._publisher(answer, publication), context=contextvars.Context())

    async def _publisher(self, answer, publication):
        channel = self.answer_channel(answer.message_id)
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
            logger.warning("could not publish message %s to Redis: %s", answer.message_id, exc)
        finally:
            self._publishers.pop(answer.message_id, None)

    # --- The side that asks ---------------------------------------------------------------

    async def request_stop(self, message_id):
        await self.redis.publish(self.control_channel, json.dumps({"op": "stop", "id": message_id}))

    async def request_follow(self, message_id, content_from, reasoning_from):
        request = {"op": "follow", "id": message_id, "content": content_from, "reasoning": reasoning_from}
        await self.redis.publish(self.control_channel, json.dumps(request))

    @contextlib.asynccontextmanager
    async def updates(self, message_id):
        """
        Subscribe to an answer's channel; yields a function that returns the next update
        (a dict), or None after `timeout` seconds without one.
        """
        pubsub = self.redis.pubsub(ignore_subscribe_messages=False)
        try:
            await pubsub.subscribe(self.answer_channel(message_id))
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


class _Publication:
    """What of an answer has been published: parts of its text lists, and characters."""

    def __init__(self, content_from, reasoning_from):
        self.parts = (0, 0)
        self.chars = (0, 0)
        self.rewind_to = (content_from, reasoning_from)

    def rewind(self, content_from, reasoning_from):
        current = self.rewind_to or self.chars
        self.rewind_to = (min(current[0], content_from), min(current[1], reasoning_from))

    def take(self, answer):
        """The text `answer` has past what was published, as an update; {} for none."""
        update = {}
        if self.rewind_to is not None:
            (content_from, reasoning_from), self.rewind_to = self.rewind_to, None
            content = "".join(answer.content)[content_from:]
            reasoning = "".join(answer.reasoning)[reasoning_from:]
        else:
            (content_from, reasoning_from) = self.chars
            content = "".join(answer.content[self.parts[0] :])
            reasoning = "".join(answer.reasoning[self.parts[1] :])
        self.parts = (len(answer.content), len(answer.reasoning))
        self.chars = (answer.content_length, answer.reasoning_length)
        if reasoning:
            update.update(r=reasoning_from, reasoning=reasoning)
        if content:
            update.update(c=content_from, content=content)
        return update
