"""
A fast fake OpenAI-compatible upstream for the benchmark, used when ../shared/peer-relay/
fake_upstream.mjs (Node.js) is not there. It speaks the same protocol: POST
/v1/chat/completions streams TOKENS content chunks ("t<i> "), one every INTERVAL_MS, then a
finish chunk, a usage chunk when `stream_options.include_usage` is set, and `[DONE]`. The
header `x-fake-tokens` overrides TOKENS per request. GET /stats gives {active, served}.

usage: PORT=18080 TOKENS=100 INTERVAL_MS=20 python bench/fake_upstream.py
"""

import asyncio
import json
import os
import time

PORT = int(os.environ.get("PORT", 18080))
TOKENS = int(os.environ.get("TOKENS", 50))
INTERVAL = float(os.environ.get("INTERVAL_MS", 20)) / 1000
stats = {"active": 0, "served": 0}


def _chunk(payload):
    data = f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


async def _respond(writer, status, body, content_type="application/json"):
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    )
    await writer.drain()


async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            if path == "/stats":
                await _respond(writer, "200 OK", json.dumps(stats).encode())
            elif method != "POST" or not path.endswith("/chat/completions"):
                await _respond(writer, "404 Not Found", b"{}")
            else:
                await stream(writer, json.loads(body), int(headers.get("x-fake-tokens", TOKENS)))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def stream(writer, request, tokens):
    stats["served"] += 1
    base = {
        "id": f"chatcmpl-fake{stats['served']}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
    }
    if not request.get("stream"):
        text = "".join(f"t{i} " for i in range(tokens))
        message = {"role": "assistant", "content": text}
        usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}
        body = {**base, "object": "chat.completion", "choices": [{"index": 0, "message": message}], "usage": usage}
        await _respond(writer, "200 OK", json.dumps(body).encode())
        return
    stats["active"] += 1
    try:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(_chunk({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}))
        for i in range(tokens):
            await asyncio.sleep(INTERVAL)
            if writer.is_closing():
                raise ConnectionError
            writer.write(_chunk({**base, "choices": [{"index": 0, "delta": {"content": f"t{i} "}}]}))
        writer.write(_chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        if (request.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}
            writer.write(_chunk({**base, "choices": [], "usage": usage}))
        writer.write(b"%x\r\ndata: [DONE]\n\n\r\n0\r\n\r\n" % len(b"data: [DONE]\n\n"))
        await writer.drain()
    finally:
        stats["active"] -= 1


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", PORT, backlog=4096)
    print(f"fake upstream on 127.0.0.1:{PORT} tokens={TOKENS} interval={INTERVAL * 1000:g}ms", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
