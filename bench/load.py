"""
A load generator for the relay benchmark: CONC concurrent streaming requests, each read until
its last token ("t<TOKENS-1> ") arrives, reported as one JSON line with the same fields as
../shared/peer-relay/load.mjs (which run.py prefers when Node.js and that folder exist).

It also does what load.mjs cannot: `--disconnect FRACTION` makes that share of the clients
hang up at a random point of the answer (after its first event, before its last token), as a
browser tab closed mid-answer does.

usage: python bench/load.py PLAN_FILE CONC TOKENS INTERVAL_MS [--disconnect 0.33] [--seed 1]
PLAN_FILE has one JSON object {url, headers, body} per line; stream i uses line i % lines.
"""

import argparse
import asyncio
import json
import random
import re
import time
from urllib.parse import urlsplit

TOKEN = re.compile(rb"t\d+ ")


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def one(plan, tokens, hang_up_after=None):
    """One stream. `hang_up_after`: seconds after the first byte at which to disconnect."""
    url = urlsplit(plan["url"])
    body = (plan.get("body") or "").encode()
    headers = {"host": url.netloc, "connection": "close", **(plan.get("headers") or {})}
    if body:
        headers.setdefault("content-type", "application/json")
        headers["content-length"] = str(len(body))
    head = f"{'POST' if body else 'GET'} {url.path}{'?' + url.query if url.query else ''} HTTP/1.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    last = f"t{tokens - 1} ".encode()
    result = {"ok": False, "seen": 0}
    started = time.perf_counter()
    writer = None
    try:
        reader, writer = await asyncio.open_connection(url.hostname, url.port or 80)
        writer.write(head.encode() + b"\r\n" + body)
        status_line = await reader.readline()
        result["status"] = int(status_line.split()[1])
        first = previous = None
        max_gap = 0.0
        tail = b""
        deadline = None
        while True:
            timeout = None if deadline is None else max(deadline - time.perf_counter(), 0)
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout)
            except TimeoutError:
                result["why"] = "hung up"
                result["hung_up"] = True
                return result
            now = time.perf_counter()
            if not data:
                result["why"] = "ended early"
                return result
            if deadline is None and hang_up_after is not None:
                deadline = now + hang_up_after
            found = len(TOKEN.findall(data))
            if found:
                if first is None:
                    first = now
                if previous is not None:
                    max_gap = max(max_gap, now - previous)
                previous = now
                result["seen"] += found
            # Keep enough of the previous read to find the last token split across two reads.
            if last in tail + data:
                result.update(
                    ok=True,
                    ttft=(first - started) * 1000,
                    total=(now - started) * 1000,
                    max_gap=max_gap * 1000,
                )
                return result
            tail = data[-len(last) :]
    except (OSError, ValueError, IndexError) as exc:
        result["why"] = type(exc).__name__
        return result
    finally:
        if writer is not None:
            # An abort, not a polite close: like a tab that goes away.
            writer.transport.abort()


async def run(plans, conc, tokens, interval, disconnect=0.0, seed=1):
    rng = random.Random(seed)
    ideal = tokens * interval / 1000
    hang_ups = set(rng.sample(range(conc), round(conc * disconnect)))
    tasks = []
    for i in range(conc):
        after = rng.uniform(0, ideal) if i in hang_ups else None
        tasks.append(one(plans[i % len(plans)], tokens, after))
    started = time.perf_counter()
    results = await asyncio.gather(*tasks)
    wall = (time.perf_counter() - started) * 1000
    return summarize(results, conc, tokens * interval, wall)


def summarize(results, conc, ideal_ms, wall_ms):
    ok = [r for r in results if r["ok"]]
    why = {}
    for r in results:
        if not r["ok"] and not r.get("hung_up"):
            key = f"{r.get('why')}:{r.get('status')}"
            why[key] = why.get(key, 0) + 1
    hung_up = sum(1 for r in results if r.get("hung_up"))
    out = {
        "conc": conc,
        "ok": len(ok),
        "failed": conc - len(ok) - hung_up,
        "hung_up": hung_up,
        "why": why,
        "ttft_p50": percentile([r["ttft"] for r in ok], 0.5),
        "ttft_p99": percentile([r["ttft"] for r in ok], 0.99),
        "total_p50": percentile([r["total"] for r in ok], 0.5),
        "total_p99": percentile([r["total"] for r in ok], 0.99),
        "gap_p99": percentile([r["max_gap"] for r in ok], 0.99),
        "overhead_p50": percentile([r["total"] - ideal_ms for r in ok], 0.5),
        "overhead_p99": percentile([r["total"] - ideal_ms for r in ok], 0.99),
        "wall_ms": wall_ms,
    }
    return {k: round(v) if isinstance(v, float) else v for k, v in out.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan")
    parser.add_argument("conc", type=int)
    parser.add_argument("tokens", type=int)
    parser.add_argument("interval", type=float)
    parser.add_argument("--disconnect", type=float, default=0.0, help="share of clients that hang up mid-answer")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with open(args.plan, encoding="utf-8") as plan_file:
        plans = [json.loads(line) for line in plan_file if line.strip()]
    print(json.dumps(run_loop(run(plans, args.conc, args.tokens, args.interval, args.disconnect, args.seed))))


def run_loop(coroutine):
    """uvloop when installed (uvicorn[standard] brings it): the client must not be the bottleneck."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


if __name__ == "__main__":
    main()
