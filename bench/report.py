"""The Markdown that bench/run.py writes into docs/benchmarks.md, from its results."""

# The targets, as ratios to the Node relay measured in the same run.
CPU_RATIO = 1.05  # 200 streams, later turns: relay CPU per 1k tokens <= 1.05x Node's
NEW_CPU = 1.15  # 200 streams, new chats (titles on): <= 1.15x Node's
# 200 streams, both shapes: p99 added latency over the direct upstream's (the floor no relay
# can go under) <= 1.5x the Node relay's over the same floor.
P99_RATIO = 1.5
BIG_P50_RATIO = 1.5  # 1,000 streams: p50 added latency <= 1.5x Node's
TTFT_ADDED_MS = 15  # one stream: time to first token + <= 15 ms over the direct upstream
HISTORY_MS = 150  # a page of history in under 150 ms of server time
SEARCH_P50_MS, SEARCH_P99_MS = 50, 150  # a search of 100,000 messages, server time
# Where a stream's CPU goes (the cost scenario): the relaying of tokens level with the Node
# relay's, and a stream's fixed cost (the person, the turn saved, the history, the upstream
# request, the final save) within 4x its own, which authenticates and saves nothing.
PER_TOKEN_RATIO = 1.1
FIXED_RATIO = 4.0
LIMITS_RISE = 0.05  # fair use: CPU per 1k tokens with every limit on <= 5 % over all off


def _fmt(value, unit=""):
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        value = round(value, 1)
    return f"{value:,}{unit}" if isinstance(value, int | float) else str(value)


def _pair(row, a, b, unit=""):
    return f"{_fmt(row.get(a))} / {_fmt(row.get(b))}{unit}"


def _verdict(ok):
    return "**PASS**" if ok else "**FAIL**"


def _ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def stream_table(conc, entry, tokens):
    lines = [
        f"#### {conc:,} concurrent streams × {tokens} tokens",
        "",
        "| | completed / failed | TTFT p50 / p99 | added p50 / p99 | largest gap p99 | CPU ms per 1k tokens "
        "| RSS before → peak | RSS growth per 1k streams | complete in DB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [
        ("direct upstream (peer.sh)", entry.get("direct-upstream")),
        ("Node relay (peer.sh)", entry.get("seed-node-relay")),
        ("Node relay (memory run)", entry.get("node-memory")),
        ("**Django relay**, later turns", entry.get("relay")),
        ("**Django relay**, new chats", entry.get("relay-new-chats")),
        ("**Django relay**, OpenAI API (/v1)", entry.get("relay-api")),
    ]
    for name, row in rows:
        if not row:
            continue
        rss = f"{_fmt(row.get('rss_before_mb'))} → {_fmt(row.get('rss_peak_mb'))} MB" if "rss_peak_mb" in row else "–"
        growth = _fmt(row.get("rss_growth_per_1k_streams_mb"), " MB")
        db = row.get("db")
        complete = f"{db['complete']:,} of {conc:,}" if db else "–"
        lines.append(
            f"| {name} | {_fmt(row.get('ok'))} / {_fmt(row.get('failed'))} "
            f"| {_pair(row, 'ttft_p50', 'ttft_p99', ' ms')} "
            f"| {_pair(row, 'overhead_p50', 'overhead_p99', ' ms')} | {_fmt(row.get('gap_p99'), ' ms')} "
            f"| {_fmt(row.get('cpu_ms_per_1k_tokens'))} | {rss} | {growth} | {complete} |"
        )
    if titles := (entry.get("relay-new-chats") or {}).get("titles"):
        lines += [
            "",
            f"New chats: {titles['made']:,} of {titles['of']:,} titles made by the model, the last "
            f"{titles['seconds_after_answers']} s after the answers had ended.",
        ]
    if workers := (entry.get("relay") or {}).get("per_worker"):
        # How evenly the kernel spread the burst over the workers (they share one socket).
        def each(key):
            return " / ".join(f"{worker[key]:,}" for worker in workers)

        lines += [
            "",
            f"Django relay by worker: CPU {each('cpu_ms')} ms (of it system {each('sys_ms')} ms); open sockets "
            f"at the peak {each('peak_sockets')} (two per stream, and a few of the worker's own).",
        ]
    return lines


def targets(results):
    """(target, measured, limit, verdict) rows, one per round where the target is per round."""
    rows = []
    for number, entry in enumerate(results["rounds"], 1):
        tag = f" (round {number})" if len(results["rounds"]) > 1 else ""
        small = entry.get("200") or entry.get(200)
        if small and small.get("seed-node-relay"):
            node, direct = small["seed-node-relay"], small.get("direct-upstream")
            for key, shape, limit in (("relay", "later turns", CPU_RATIO), ("relay-new-chats", "new chats", NEW_CPU)):
                if not (relay := small.get(key)):
                    continue
                cpu = _ratio(relay["cpu_ms_per_1k_tokens"], node["cpu_ms_per_1k_tokens"])
                rows.append(
                    (
                        f"200 streams, {shape}: CPU per 1k tokens ≤ {limit}× Node's{tag}",
                        f"{relay['cpu_ms_per_1k_tokens']} vs {node['cpu_ms_per_1k_tokens']} ms = {cpu:.2f}×",
                        cpu is not None and cpu <= limit,
                    )
                )
                if direct:
                    # Over the floor: the same load on the upstream alone, with no relay.
                    floor = direct["overhead_p99"]
                    ours, theirs = relay["overhead_p99"] - floor, node["overhead_p99"] - floor
                    ratio = _ratio(ours, theirs) if theirs > 0 else None
                    rows.append(
                        (
                            f"200 streams, {shape}: p99 added over the direct upstream's ≤ {P99_RATIO}× Node's{tag}",
                            f"{relay['overhead_p99']} − {floor} = {ours} vs {node['overhead_p99']} − {floor} = "
                            f"{theirs} ms" + (f" = {ratio:.2f}×" if ratio is not None else ""),
                            ratio is not None and ratio <= P99_RATIO,
                        )
                    )
        if small and small.get("relay-api") and small.get("relay"):
            api, page = small["relay-api"], small["relay"]
            ratio = _ratio(api["cpu_ms_per_1k_tokens"], page["cpu_ms_per_1k_tokens"])
            rows.append(
                (
                    f"200 streams: CPU per 1k tokens through /v1 ≤ a page turn's{tag}",
                    f"{api['cpu_ms_per_1k_tokens']} vs {page['cpu_ms_per_1k_tokens']} ms = {ratio:.2f}×",
                    ratio is not None and ratio <= 1.0,
                )
            )
        big = entry.get("1000") or entry.get(1000)
        if big:
            node = big.get("seed-node-relay")
            for key, shape in (("relay", "later turns"), ("relay-new-chats", "new chats")):
                if not (relay := big.get(key)):
                    continue
                titles = relay.get("titles")
                measured = (
                    f"{relay['ok']} completed, {relay['failed']} failed, {relay['db']['complete']} complete in DB"
                )
                ok = relay["failed"] == 0 and relay["ok"] == 1000 and relay["db"]["complete"] == 1000
                if titles:
                    measured += f", {titles['made']} titles ({titles['seconds_after_answers']} s after the answers)"
                    ok = ok and titles["made"] == 1000
                rows.append(
                    (f"1,000 streams, {shape}: zero failures, 1,000 complete answers in the DB{tag}", measured, ok)
                )
                if node:
                    ratio = _ratio(relay["overhead_p50"], node["overhead_p50"])
                    rows.append(
                        (
                            f"1,000 streams, {shape}: p50 added latency ≤ {BIG_P50_RATIO}× Node's{tag}",
                            f"{relay['overhead_p50']} vs {node['overhead_p50']} ms = {ratio:.2f}×",
                            ratio is not None and ratio <= BIG_P50_RATIO,
                        )
                    )
            memory, relay = big.get("node-memory"), big.get("relay")
            if memory and relay:
                ours, theirs = relay["rss_growth_per_1k_streams_mb"], memory["rss_growth_per_1k_streams_mb"]
                rows.append(
                    (
                        f"memory: RSS growth per 1k open streams ≤ Node's{tag}",
                        f"{ours} vs {theirs} MB",
                        ours <= theirs,
                    )
                )
    if (cost := results.get("cost")) and {"node", "django"} <= cost["fitted"].keys():
        node, django = cost["fitted"]["node"], cost["fitted"]["django"]
        # A burst with failed streams relayed fewer tokens than its fit assumes.
        failed = sum(run["failed"] for run in cost["per_stream_ms"].values())
        for name, key, unit, limit in (
            ("cost per token", "per_token_us", "µs", PER_TOKEN_RATIO),
            ("fixed cost per stream", "fixed_ms", "ms", FIXED_RATIO),
        ):
            ratio = _ratio(django[key], node[key]) if node[key] > 0 else None
            rows.append(
                (
                    f"{cost['conc']} streams: CPU, {name} ≤ {limit}× Node's",
                    f"{django[key]:.2f} vs {node[key]:.2f} {unit}"
                    + (f" = {ratio:.2f}×" if ratio is not None else "")
                    + (f", {failed} streams failed" if failed else ""),
                    ratio is not None and ratio <= limit and not failed,
                )
            )
    if (limits := results.get("limits")) and (check := limits.get("check")):
        turn = limits_turn_cpu(limits, results["args"]["tokens"])
        cost = check["on"] - check["off"]
        rows.append(
            (
                f"the checks alone: CPU a turn ≤ {LIMITS_RISE:.0%} of a turn's at {limits['conc']} streams",
                f"{cost:+.2f} ms ({check['on']} vs {check['off']} ms for the turn's database unit, "
                f"median of each) = {cost / turn:+.1%} of {turn:.1f} ms",
                cost / turn <= LIMITS_RISE,
            )
        )
    if limits := results.get("limits"):
        rise, control = limits_rise(limits)
        measured = f"{rise:+.1%} (median of {len(limits['pairs'])} pairs)"
        if control is not None:
            measured += f"; the same settings run twice: {control:+.1%}"
        rows.append(
            (
                f"{limits['conc']} streams: CPU per 1k tokens with every limit on ≤ {LIMITS_RISE:.0%} over off",
                measured,
                rise <= LIMITS_RISE,
            )
        )
    if single := results.get("single"):
        added = single["added_ttft_p50"]
        rows.append(
            (
                f"one stream: TTFT + ≤ {TTFT_ADDED_MS} ms over direct",
                f"+{added} ms (median of {single['repeats']}: {single['relay_ttft_p50']} vs "
                f"{single['direct_ttft_p50']} ms)",
                added <= TTFT_ADDED_MS,
            )
        )
    if history := results.get("history"):
        for name, label in (("conversation", "opening 2,000 messages"), ("sidebar", "sidebar of 10,000, page 1")):
            row = history[name]
            rows.append(
                (
                    f"history: {label} < {HISTORY_MS} ms",
                    f"p50 {row['p50_ms']} ms (p99 {row['p99_ms']}, max {row['max_ms']})",
                    row["p50_ms"] < HISTORY_MS,
                )
            )
    if found := results.get("search"):
        rows.append(
            (
                f"search {found['messages']:,} messages: p50 < {SEARCH_P50_MS} ms, p99 < {SEARCH_P99_MS} ms",
                f"p50 {found['p50_ms']} ms, p99 {found['p99_ms']} ms "
                f"(max {found['max_ms']}, {found['searches']} searches)",
                found["p50_ms"] < SEARCH_P50_MS and found["p99_ms"] < SEARCH_P99_MS,
            )
        )
    if hang := results.get("disconnect"):
        db = hang["db"]
        rows.append(
            (
                "disconnect: every answer complete in the DB",
                f"{db['complete']} of {hang['conc']} ({hang['hung_up']} clients hung up)",
                db["complete"] == hang["conc"],
            )
        )
    return rows


def limits_turn_cpu(limits, tokens):
    """A turn's CPU with the limits off in the burst (the median of the pairs), in ms."""
    per_1k = sorted(pair["off"]["cpu_ms_per_1k_tokens"] for pair in limits["pairs"])[len(limits["pairs"]) // 2]
    return per_1k * tokens / 1000


def limits_rise(limits):
    """
    The median over the pairs of how much more CPU per 1k tokens the limits cost (on against
    off, in the same pair: the drift of the machine over the run cancels out), and the same
    of the control (off run again) against off: what two identical runs differ by (None for
    a run without controls).
    """

    def median(values):
        values = sorted(values)
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2

    def rise(pair, side):
        return pair[side]["cpu_ms_per_1k_tokens"] / pair["off"]["cpu_ms_per_1k_tokens"] - 1

    pairs = limits["pairs"]
    control = median([rise(pair, "control") for pair in pairs]) if all("control" in p for p in pairs) else None
    return median([rise(pair, "on") for pair in pairs]), control


def cost_table(cost, tokens):
    """Where a stream's CPU goes: fixed per stream and per token, each relay, fitted."""
    short, long = cost["lengths"]
    lines = [
        f"#### Where a stream's CPU goes ({cost['conc']} streams of {short} and of {long} tokens, later turns)",
        "",
        f"| | CPU per stream, {short} tokens | {long} tokens | fixed per stream | per token | at {tokens} tokens |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    fitted = cost["fitted"]
    for who, label in (("node", "Node relay (peer.sh)"), ("django", "**Django relay**")):
        if who not in fitted:
            continue
        fit = fitted[who]
        at = fit["fixed_ms"] + fit["per_token_us"] * tokens / 1000
        short_ms, long_ms = (cost["per_stream_ms"][str(length)][who] for length in (short, long))
        lines.append(
            f"| {label} | {short_ms:.2f} ms | {long_ms:.2f} ms "
            f"| {fit['fixed_ms']:.2f} ms | {fit['per_token_us']:.0f} µs | {at:.2f} ms |"
        )
    if "node" in fitted and "django" in fitted:
        node, django = fitted["node"], fitted["django"]
        budget = CPU_RATIO * (node["fixed_ms"] + node["per_token_us"] * tokens / 1000)
        room = budget - django["per_token_us"] * tokens / 1000
        lines += [
            "",
            f"At {tokens} tokens, {CPU_RATIO}× the Node relay's stream is {budget:.2f} ms of CPU: with the Django "
            f"relay's cost per token, that leaves {room:.2f} ms for all of a stream's fixed cost, where it "
            f"spends {django['fixed_ms']:.2f} ms.",
        ]
    return lines


def render(results):
    info, args = results["machine"], results["args"]
    lines = [
        f"### Run of {info['date']}",
        "",
        f"Commit `{info['commit']}` · {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB · "
        f"Linux {info['kernel']} · Python {info['python']} · Node {info['node']} · "
        f"{args['workers']} gunicorn workers · database {results.get('database')} · upstream "
        f"{results['upstream']} · {args['tokens']} tokens every {args['interval']} ms (ideal "
        f"{args['tokens'] * args['interval']:,} ms) · load average at start {info['load_before']:.2f}",
        "",
    ]
    target_rows = targets(results)
    if target_rows:
        lines += ["#### Targets", "", "| target | measured | verdict |", "| --- | --- | --- |"]
        lines += [f"| {name} | {measured} | {_verdict(ok)} |" for name, measured, ok in target_rows]
        lines.append("")
    for number, entry in enumerate(results["rounds"], 1):
        if len(results["rounds"]) > 1:
            lines += [f"#### Round {number}", ""]
        for conc, data in entry.items():
            lines += stream_table(int(conc), data, args["tokens"]) + [""]
    if cost := results.get("cost"):
        lines += cost_table(cost, args["tokens"]) + [""]
    if limits := results.get("limits"):
        lines += [
            f"#### Fair-use checks ({limits['conc']} streams, every limit and quota on but none reached)",
            "",
            "| pair | CPU per 1k tokens, off | on | off again (control) | failed (off / on) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for number, pair in enumerate(limits["pairs"], 1):
            off, on, control = pair["off"], pair["on"], pair.get("control")
            again = f"{control['cpu_ms_per_1k_tokens']} ms" if control else "–"
            lines.append(
                f"| {number} | {off['cpu_ms_per_1k_tokens']} ms | {on['cpu_ms_per_1k_tokens']} ms "
                f"| {again} | {off['failed']} / {on['failed']} |"
            )
        lines.append("")
    if single := results.get("single"):
        lines += [
            "#### One stream at a time",
            "",
            f"Time to first token over {single['repeats']} alternating runs: direct "
            f"{single['direct_ttft']} ms; relay {single['relay_ttft']} ms.",
            "",
        ]
    if history := results.get("history"):
        lines += [
            "#### History pages (repeated requests on one keep-alive connection, timed at the client)",
            "",
            "| page | items | bytes | p50 | p99 | max |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, row in history.items():
            lines.append(
                f"| {name} | {row['items']:,} | {row['bytes']:,} | {row['p50_ms']} ms | {row['p99_ms']} ms "
                f"| {row['max_ms']} ms |"
            )
        lines.append("")
    if found := results.get("search"):
        lines += [
            f"#### Search ({results.get('database', '')}: {found['messages']:,} messages of one person, "
            f"{found['searches']} searches on one keep-alive connection, timed at the client)",
            "",
            f"Filled in {found['fill_s']} s (bulk_create, the index kept by the database), then "
            f"{found['index_s']} s for the n-grams (MySQL/MariaDB) or the planner's statistics "
            f"(PostgreSQL's ANALYZE). Any request of the person's, search or not "
            f"(`GET /api/models/`: the session read; on MySQL a new connection a request), takes "
            f"{found.get('baseline_p50_ms', '–')} ms (p50) here.",
            "",
            "| kind | query | hits on page 1 | p50 | max |",
            "| --- | --- | --- | --- | --- |",
        ]
        for kind, row in found["kinds"].items():
            lines.append(
                f"| {kind} | `{row['query']}` | {row['hits_page_1']} | {row['p50_ms']} ms | {row['max_ms']} ms |"
            )
        lines.append("")
    if hang := results.get("disconnect"):
        db = hang["db"]
        lines += [
            "#### Disconnects",
            "",
            f"{hang['conc']} concurrent streams, {hang['hung_up']} of whose clients hung up at a random point "
            f"of the answer: {hang['ok']} read to the end, {hang['failed']} failed; in the database "
            f"{db['complete']} answers complete with the full text, statuses {db['statuses']}, "
            f"{db['questions_saved']} questions saved.",
            "",
        ]
    return "\n".join(lines)
