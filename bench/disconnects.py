"""
Load test: hundreds of concurrent answers, a third of whose readers go away at a random
point, must all end complete in the database. Not a unit test: run it by hand or in CI.

    .venv/bin/python bench/disconnects.py                # 300 streams, SQLite
    .venv/bin/python bench/disconnects.py --streams 600 --workers 2
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/disconnects.py

It runs the production command (gunicorn -c gunicorn.conf.py) against the fake provider of
the tests, on a scratch database (a temporary SQLite file, or the database in DATABASE_URL,
which must exist and is migrated). Exit status 1 if any answer is not complete and whole.
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure():
    if url := os.environ.get("DATABASE_URL"):
        name = urlsplit(url).path.lstrip("/")
    else:
        name = str(Path(tempfile.mkdtemp(prefix="chat-bench-")) / "bench.sqlite3")
    os.environ["TEST_DATABASE_NAME"] = name
    os.environ["TEST_OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"  # set for real below
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.server_settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


async def one_stream(session, base_url, cookies, conversation_id, disconnect_after, tokens):
    async with session.post(
        f"{base_url}/api/chats/{conversation_id}/messages/",
        json={"content": "Hello"},
        headers={"X-CSRFToken": cookies["csrftoken"]},
    ) as response:
        assert response.status == 200, await response.text()
        received = 0  # tokens: the fake provider's are "t0 ", "t1 ", ...
        message_id = None
        async for line in response.content:
            if not line.startswith(b"data: "):
                continue
            data = json.loads(line[6:])
            if message_id is None:
                message_id = data["assistant_message_id"]
            received += data.get("content", "").count(" ") if isinstance(data.get("content"), str) else 0
            if disconnect_after is not None and received >= disconnect_after:
                response.close()  # the reader goes away mid-answer
                return message_id, "disconnected"
        return message_id, "read to the end"


async def run(base_url, cookies, chat_ids, tokens, disconnect_share):
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, cookies=cookies, timeout=aiohttp.ClientTimeout(total=600)
    ) as session:
        leaving = round(len(chat_ids) * disconnect_share)
        plans = [random.randint(1, tokens - 1) for _ in range(leaving)] + [None] * (len(chat_ids) - leaving)
        random.shuffle(plans)
        return await asyncio.gather(
            *(one_stream(session, base_url, cookies, c, p, tokens) for c, p in zip(chat_ids, plans, strict=True))
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between two tokens")
    parser.add_argument("--disconnect-share", type=float, default=1 / 3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    configure()
    from django.contrib.auth import get_user_model

    from chat.models import Conversation, Message
    from tests.support.fake_upstream import FakeUpstream, Script
    from tests.support.live import session_cookie_for
    from tests.support.servers import Gunicorn, env_with_test_settings

    upstream = FakeUpstream().start()
    upstream.default = Script(tokens=args.tokens, interval=args.interval)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    chat_ids = [Conversation.objects.create(owner=user, model="fake-model").pk for _ in range(args.streams)]
    cookies = {"sessionid": session_cookie_for(user), "csrftoken": secrets.token_hex(16)}
    log = Path(tempfile.mkdtemp(prefix="chat-bench-log-")) / "server.log"
    env = env_with_test_settings(upstream, WEB_CONCURRENCY=args.workers, CHAT_SAVE_INTERVAL=1, SSE_HEARTBEAT_SECONDS=15)
    server = Gunicorn(env, log)
    server.start()
    try:
        started = time.monotonic()
        results = asyncio.run(run(server.url, cookies, chat_ids, args.tokens, args.disconnect_share))
        read = time.monotonic() - started
        ids = [message_id for message_id, _ in results]
        # Answers whose reader left go on in the server: wait for them to end.
        deadline = time.monotonic() + 120
        while Message.objects.filter(pk__in=ids, status="streaming").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        total = time.monotonic() - started
    finally:
        server.stop()
        upstream.stop()

    expected = "".join(f"t{i} " for i in range(args.tokens))
    answers = Message.objects.filter(pk__in=ids)
    bad = [(m.pk, m.status, len(m.content)) for m in answers if m.status != "complete" or m.content != expected]
    disconnected = sum(1 for _, how in results if how == "disconnected")
    summary = {
        "streams": args.streams,
        "workers": args.workers,
        "disconnected": disconnected,
        "complete_and_whole": len(ids) - len(bad),
        "not_complete": bad[:20],
        "seconds_reading": round(read, 2),
        "seconds_until_all_saved": round(total, 2),
        "database": os.environ["TEST_DATABASE_NAME"],
    }
    print(json.dumps(summary, indent=2))
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"disconnects-{int(time.time())}.json").write_text(json.dumps(summary, indent=2))
    if bad:
        print(f"server log: {log}", file=sys.stderr)
    return 1 if bad or len(ids) != args.streams else 0


if __name__ == "__main__":
    sys.exit(main())
