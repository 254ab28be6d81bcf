"""
The bytes of an OpenAI `chat.completions` stream turned into deltas.

Parsed here from raw bytes rather than through the SDK's per-chunk pydantic models, which cost
more CPU than everything else in the relay, for every token of every answer.
"""

from dataclasses import dataclass, field

import orjson

from chat.upstream.errors import UpstreamError, provider_error


@dataclass
class StreamParser:
    """
    `feed()` takes whatever bytes arrived and returns the deltas they complete, as
    (kind, text) pairs where kind is "content" or "reasoning". The finish reason, usage and
    end marker are kept as attributes.
    """

    finish_reason: str = ""
    usage: dict = field(default_factory=dict)
    done: bool = False
    _buffer: bytes = b""

    def feed(self, data):
        deltas = []
        buffer = self._buffer + data
        *lines, self._buffer = buffer.split(b"\n")
        try:
            for line in lines:
                # Only data lines matter; blank lines, comments (": keep-alive") and event
                # names carry nothing for a chat completion.
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    self.done = True
                    continue
                if payload:
                    self._chunk(payload, deltas)
        except UpstreamError as exc:
            # The text that came in the same read before the fault is the person's too.
            exc.deltas = deltas
            raise
        return deltas

    def _chunk(self, payload, deltas):
        try:
            # orjson: a quarter of the CPU of json.loads, on every chunk of every answer.
            chunk = orjson.loads(payload)
            if "error" in chunk and chunk["error"]:
                raise provider_error(chunk["error"], detail=payload.decode(errors="replace"))
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                # DeepSeek and Qwen call it reasoning_content; vLLM and others, reasoning.
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    deltas.append(("reasoning", reasoning))
                content = delta.get("content")
                if content:
                    deltas.append(("content", content))
                if choice.get("finish_reason"):
                    self.finish_reason = choice["finish_reason"]
            if chunk.get("usage"):
                self.usage = chunk["usage"]
        except UpstreamError:
            raise
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise UpstreamError.of("malformed", detail=f"malformed chunk {payload[:200]!r}: {exc}") from None

    def close(self):
        """The stream ended: return the deltas of a last line without a newline, if any, and
        make sure the stream ended properly."""
        deltas = self.feed(b"\n") if self._buffer.strip() else []
        if not self.done and not self.finish_reason:
            exc = UpstreamError.of("truncated", detail="stream ended without [DONE] or a finish reason")
            exc.deltas = deltas
            raise exc
        return deltas
