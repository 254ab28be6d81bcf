"""The streams of an answer generated in this process."""

from chat import sse
from chat.relay import events


async def follow_live(answer, cursor, *, first=b"", stop_on_disconnect=False):
    """
    The SSE bytes of an answer generated here, from `cursor` to its end, after `first`: the
    new text as it arrives (all that arrived since the last write, as one event), a heartbeat
    when nothing came since the last wake-up, the title when the model named the
    conversation, and a last `done` or `error` event.
    """
    completed = False
    title_sent = False
    try:
        while True:
            finished = answer.is_finished
            chunk = answer.deltas(cursor)
            if first:
                chunk, first = first + chunk, b""
            if answer.title and not title_sent:
                title_sent = True
                chunk += events.title(answer.title)
            if finished:
                yield chunk + events.end(answer.outcome())
                completed = True
                return
            yield chunk or sse.PING
            # Writing may have taken a while (a slow reader): the end may have come
            # meanwhile, and no wake-up follows the last one.
            if not answer.is_finished:
                await answer.changed()
    finally:
        if stop_on_disconnect and not completed:
            answer.stop()
