"""
The relay benchmark: the production server (gunicorn -c gunicorn.conf.py, uvicorn workers,
DEBUG off) against a fast fake OpenAI-compatible upstream on loopback, driven by logged-in
users through the documented API (POST /api/chats/<id>/messages/), with the Node.js relay this
product grew from and the upstream itself measured in the same run.

    make bench                                     # all scenarios, results in docs/benchmarks.md
    .venv/bin/python bench/run.py --help           # streams, workers, database, rounds...

Scenarios (each load runs against a freshly started server, after a warm-up that is not
counted):
- streams: N concurrent chats (default 200 and 1,000) of TOKENS tokens every INTERVAL ms;
  completed/failed streams, time to first token, added latency over the ideal, largest gap
  between tokens, server CPU per 1,000 tokens (all gunicorn processes), server RSS before and
  at peak, answers found complete in the database;
- cost: the streams (later turns) with short and with long answers, through the Django and
  the Node relay, fitted as a fixed CPU cost per stream and a cost per token;
- limits: the streams with every fair-use limit off, on, and off again (a control: what two
  identical runs differ by), --limits-pairs times; and the checks alone, the turn's database
  unit timed in one thread with the limits off and on;
- single: one stream at a time, time to first token through the relay minus directly from
  the upstream;
- history: a conversation of 2,000 messages and the first sidebar page of 10,000
  conversations, requested repeatedly;
- disconnect: hundreds of streams, a third of whose clients hang up at a random point; every
  answer must still be complete in the database;
- search: a person with 100,000 messages searches them (GET /api/search/), 200 times, with
  Chinese, a substring, identifiers, a phrase, a rare and a common word. Alone, on a chosen
  database: `make bench BENCH_ARGS="--only search --database-url postgres://.../chat_bench"`.

When ../shared/peer-relay/ exists (a side-by-side harness, not part of the product), its
peer.sh measures the Node.js relay and the direct upstream for each N, its fake upstream and
load generator are used, and the Node relay's memory is measured here as well. Without it,
bench/fake_upstream.py and bench/load.py stand in and the comparison columns stay empty.

Nothing here is part of `make test`: speed is measured here, not asserted in unit tests.
"""

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEER = ROOT.parent / "shared" / "peer-relay"
BIN = Path(sys.executable).parent
MODEL = "bench-model"
# Every fair-use limit and quota on, none of them reached: what the checks cost a turn.
LIMITS_ON = {
    "CHAT_RATE_LIMIT": "100000",
    "CHAT_MAX_STREAMS_PER_USER": "100000",
    "CHAT_DAILY_TOKEN_QUOTA": str(10**12),
    "CHAT_MONTHLY_TOKEN_QUOTA": str(10**12),
}
PROMPT = "Write a short poem about relays."
# The two earlier turns of every benchmark conversation but new chats.
EARLIER = [
    message
    for turn in range(2)
    for message in (
        {"role": "user", "content": f"Question {turn}? " * 10},
        {"role": "assistant", "content": f"Answer {turn}. " * 40},
    )
]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

sys.path.insert(0, str(ROOT))

from tests.support.servers import Gunicorn  # noqa: E402  (the tests' launcher, from the project root)


def log(*parts):
    print(f"[bench {time.strftime('%H:%M:%S')}]", *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, timeout=30, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


# --- Processes: CPU and memory from /proc ----------------------------------------------------


def process_tree(root_pid):
    """root_pid and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    pids, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += children.get(pid, [])
    return pids


def cpu_times(pid):
    """(user+sys, sys) CPU of a process, in milliseconds; (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    user, system = int(fields[11]), int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return (user + system) * 1000 / CLOCK_TICKS, system * 1000 / CLOCK_TICKS


def cpu_ms(pids):
    """user+sys CPU of these processes, in milliseconds."""
    return sum(cpu_times(pid)[0] for pid in pids)


def rss_mb(pids):
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return total * PAGE_SIZE / 2**20


def open_sockets(pid):
    """How many sockets a process has open (a stream holds two: its client's and upstream's)."""
    count = 0
    with contextlib.suppress(OSError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                count += os.readlink(fd.path).startswith("socket:")
    return count


class PeakSampler:
    """
    The largest sum of RSS over a process tree, sampled every 50 ms in a thread, and the most
    sockets each process had open, every 500 ms: counting a worker's sockets reads a link for
    each of its files, about 5 ms of CPU for a thousand streams, which at every RSS sample would
    take a fifth of a core from the load it measures.
    """

    def __init__(self, root_pid):
        self.root_pid = root_pid
        self.peak = 0.0
        self.sockets = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        pids = process_tree(self.root_pid)
        for sample in itertools.count():
            if self._stop.is_set():
                return
            self.peak = max(self.peak, rss_mb(pids))
            if sample % 10 == 0:
                for pid in pids:
                    self.sockets[pid] = max(self.sockets.get(pid, 0), open_sockets(pid))
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def loaded_libraries(pid):
    """Which accelerators a worker really runs with: read from its memory map."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return []
    names = ("uvloop", "httptools", "orjson", "aiohttp/_http_parser", "yarl/_quoting", "multidict/_multidict")
    return [name for name in names if name in maps]


# --- The fake upstream, the server and the load generator ------------------------------------


def node_available():
    return shutil.which("node") is not None and PEER.is_dir()


class Upstream:
    def __init__(self, tokens, interval, workdir):
        self.port = free_port()
        env = {**os.environ, "PORT": str(self.port), "TOKENS": str(tokens), "INTERVAL_MS": str(interval)}
        if node_available():
            command = ["node", str(PEER / "fake_upstream.mjs")]
            self.kind = "shared/peer-relay/fake_upstream.mjs (Node.js)"
        else:
            command = [sys.executable, str(BENCH / "fake_upstream.py")]
            self.kind = "bench/fake_upstream.py"
        self.process = subprocess.Popen(command, env=env, stdout=open(workdir / "upstream.log", "wb"), stderr=-2)
        wait_for_port(self.port, process=self.process)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


class Server(Gunicorn):
    """gunicorn -c gunicorn.conf.py, exactly as `make serve` starts it, with all its workers up."""

    def __init__(self, env, workdir, name):
        super().__init__(env, workdir / f"server-{name}.log", port=int(env["PORT"]))
        self.workers = int(env["WEB_CONCURRENCY"])
        self.start()

    def _ready(self):
        return len(self.pids()) >= 1 + self.workers and super()._ready()

    def pids(self):
        return process_tree(self.process.pid)


def run_load(plan, conc, tokens, interval, *, disconnect=0.0, python_client=False):
    """One load run; the JSON line of load.mjs (or bench/load.py)."""
    if node_available() and not disconnect and not python_client:
        command = ["node", str(PEER / "load.mjs"), f"@{plan}", str(conc), str(tokens), str(interval)]
    else:
        command = [sys.executable, str(BENCH / "load.py"), str(plan), str(conc), str(tokens), str(interval)]
        if disconnect:
            command += ["--disconnect", str(disconnect)]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    return json.loads(output.strip().splitlines()[-1])


def write_plan(path, entries):
    with open(path, "w", encoding="utf-8") as plan:
        for entry in entries:
            plan.write(json.dumps(entry) + "\n")
    return path


# --- Django in this process: seeding and checking the database -------------------------------

# The searches of the search scenario, by kind: each is asked in turn.
SEARCH_QUERIES = [
    ("chinese", "数据库"),
    ("chinese-2-chars", "索引"),
    ("substring", "nationaliz"),
    ("identifier", "get_for_user"),
    ("camel-case", "useEffect"),
    ("phrase", '"connection pool"'),
    ("two-words", "migration rollback"),
    ("rare", "xylophone"),
    ("common", "the"),
    ("none", "zzqxj"),
]
SEARCH_SENTENCES = [
    "How do I make the database index faster when the table has millions of rows?",
    "The connection pool keeps a few connections open, so that the next request needs no handshake.",
    "Internationalization means the page speaks the person's language, and its dates too.",
    "Call Conversation.objects.get_for_user(request.user) to list only the person's own rows.",
    "In React, useEffect runs after the render; return a cleanup function for subscriptions.",
    "A migration adds the column, and its rollback drops it again.",
    "我们今天讨论了数据库的索引应该怎样设计，才能让查询更快。",
    "这个问题的答案取决于你的数据量和查询方式。",
    "请用中文解释一下连接池的作用，以及什么时候需要调大它。",
    "Streaming answers arrive token by token; the page shows them as they come.",
    "Tests run against real databases: SQLite, PostgreSQL and MariaDB.",
    "The sidebar lists the conversations, pinned first, then the most recent.",
]

SEARCH_TITLES = ["Monday", "a long week", "work", "holidays", "odds and ends", "某天", "学习"]


def fill_searchable_history(user, total):
    """
    `total` messages of `user`'s in conversations of 50, over two years, questions and
    answers of sentences that the search scenario's queries find: most of the words in many
    messages, "xylophone" in a few.
    """
    import random

    from django.utils import timezone

    from chat.models import Conversation, Message

    rng = random.Random(16)
    now = timezone.now()
    per_chat = 50
    chats = Conversation.objects.bulk_create(
        [
            Conversation(
                owner=user,
                model=MODEL,
                # Titles of their own: the queries time the messages' search, not the titles'.
                title=f"Chat {n} of {rng.choice(SEARCH_TITLES)}",
                updated_at=now - timezone.timedelta(hours=n * 8),
            )
            for n in range(total // per_chat)
        ],
        batch_size=1000,
    )
    made = 0
    batch = []
    for n, chat in enumerate(chats):
        start = now - timezone.timedelta(hours=n * 8 + 1)
        for i in range(per_chat):
            words = rng.sample(SEARCH_SENTENCES, 2 if i % 2 == 0 else 6)
            if rng.random() < 0.0001:
                words.append("A xylophone, for once.")
            batch.append(
                Message(
                    conversation=chat,
                    role="user" if i % 2 == 0 else "assistant",
                    content=" ".join(words),
                    model="" if i % 2 == 0 else MODEL,
                    created_at=start + timezone.timedelta(seconds=i * 30),
                )
            )
        if len(batch) >= 5000:
            Message.objects.bulk_create(batch, batch_size=1000)
            made += len(batch)
            batch = []
    Message.objects.bulk_create(batch, batch_size=1000)
    return made + len(batch)


def setup_django(env):
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatproject.settings"
    import django

    django.setup()


class Users:
    """Users with a conversation each, logged in: a session cookie and a CSRF token."""

    def __init__(self, server_port):
        self.port = server_port
        self.count = 0

    def create(self, n, *, prefix, login_over_http=3, new_chats=False, api=False):
        """
        `n` users logged in, each with a conversation: with two earlier turns of history, or
        with `new_chats` a fresh one, whose first message asks the model for a title. With
        `api`, each also has a personal API token, and the conversation is that token's, as
        an OpenAI client that sends its history again goes on with it.
        """
        from django.contrib.auth import get_user_model
        from django.contrib.auth.hashers import make_password

        from chat.models import Conversation, Message

        User = get_user_model()
        password = secrets.token_urlsafe(12)
        # One hash for all: PBKDF2 is slow on purpose, and N of them would take minutes.
        hashed = make_password(password)
        users = User.objects.bulk_create(
            [User(username=f"{prefix}-{self.count + i}", password=hashed) for i in range(n)]
        )
        self.count += n
        users = list(User.objects.filter(username__startswith=f"{prefix}-").order_by("id"))
        title = "" if new_chats else "Bench chat of {}"
        conversations = Conversation.objects.bulk_create(
            [Conversation(owner=user, model=MODEL, title=title.format(user.username)) for user in users]
        )
        # Two earlier turns in each conversation, so that every answer loads history.
        earlier = []
        for conversation in [] if new_chats else conversations:
            earlier += [
                Message(conversation=conversation, role=m["role"], content=m["content"], model=MODEL) for m in EARLIER
            ]
        Message.objects.bulk_create(earlier, batch_size=500)
        secrets_of = {}
        if api:
            from chat import tokens, turns

            for user, conversation in zip(users, conversations, strict=True):
                _row, secrets_of[user.pk] = tokens.create(user.pk, name="bench")
                conversation.api_token = _row
                conversation.api_thread = turns.api_thread("", EARLIER[0]["content"])
            Conversation.objects.bulk_update(conversations, ["api_token", "api_thread"], batch_size=500)
        logins = []
        for index, (user, conversation) in enumerate(zip(users, conversations, strict=True)):
            if index < login_over_http:
                session, csrf = self.login(user.username, password)
            else:
                session, csrf = self.session_for(user), None
            logins.append(
                {
                    "user": user,
                    "conversation": conversation,
                    "session": session,
                    "csrf": csrf,
                    "token": secrets_of.get(user.pk),
                }
            )
        self._fetch_csrf_tokens([entry for entry in logins if entry["csrf"] is None])
        return logins

    def login(self, username, password):
        """The login form, as a browser fills it in."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", "/accounts/login/")
        response = connection.getresponse()
        page = response.read().decode()
        csrf_cookie = _cookie(response, "csrftoken")
        form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": form_token})
        connection.request(
            "POST",
            "/accounts/login/",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf_cookie}"},
        )
        response = connection.getresponse()
        response.read()
        session = _cookie(response, "sessionid")
        if response.status != 302 or not session:
            raise RuntimeError(f"login of {username} failed: HTTP {response.status}")
        # Logging in rotates the CSRF token.
        return session, _cookie(response, "csrftoken") or csrf_cookie

    @staticmethod
    def session_for(user):
        """A logged-in session made the way django.test.Client.force_login makes it."""
        from importlib import import_module

        from django.conf import settings
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

        session = import_module(settings.SESSION_ENGINE).SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        return session.session_key

    def _fetch_csrf_tokens(self, entries):
        """Each user opens the chat page, which hands out the CSRF cookie, as in a browser."""
        from concurrent.futures import ThreadPoolExecutor

        def fetch(entry):
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            connection.request("GET", "/", headers={"Cookie": f"sessionid={entry['session']}"})
            response = connection.getresponse()
            page = response.read().decode()
            if response.status != 200 or entry["user"].username not in page:
                raise RuntimeError(f"the chat page did not open for {entry['user'].username}: {response.status}")
            entry["csrf"] = _cookie(response, "csrftoken")
            connection.close()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(fetch, entries))

    def plan(self, logins):
        if logins and logins[0]["token"]:
            # An OpenAI client: its token, and the whole conversation again with the question.
            body = json.dumps(
                {"model": MODEL, "stream": True, "messages": [*EARLIER, {"role": "user", "content": PROMPT}]}
            )
            return [
                {
                    "url": f"http://127.0.0.1:{self.port}/v1/chat/completions",
                    "headers": {"authorization": f"Bearer {entry['token']}", "content-type": "application/json"},
                    "body": body,
                }
                for entry in logins
            ]
        return [
            {
                "url": f"http://127.0.0.1:{self.port}/api/chats/{entry['conversation'].pk}/messages/",
                "headers": {
                    "cookie": f"sessionid={entry['session']}; csrftoken={entry['csrf']}",
                    "x-csrftoken": entry["csrf"],
                    "content-type": "application/json",
                },
                "body": json.dumps({"content": PROMPT}),
            }
            for entry in logins
        ]


def _cookie(response, name):
    for header, value in response.getheaders():
        if header.lower() == "set-cookie" and value.startswith(f"{name}="):
            return value.split(";", 1)[0].split("=", 1)[1]
    return None


def latest_message_id():
    from chat.models import Message

    return Message.objects.order_by("-id").values_list("id", flat=True).first() or 0


def wait_until_finished(after_id, timeout=120):
    """Wait until no answer started after `after_id` is still streaming."""
    from chat.models import Message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Message.objects.filter(id__gt=after_id, status=Message.Status.STREAMING).exists():
            return True
        time.sleep(0.2)
    return False


def wait_for_titles(conversations, timeout=30):
    """
    Wait up to `timeout` seconds for the model to have named these conversations (their title
    is not the question's first words any more); how many it named, and when the last came.
    """
    from chat.models import Conversation

    ids = [conversation.pk for conversation in conversations]
    started = time.monotonic()
    while True:
        named = Conversation.objects.filter(pk__in=ids).exclude(title=PROMPT).count()
        if named == len(ids) or time.monotonic() - started > timeout:
            return {"made": named, "of": len(ids), "seconds_after_answers": round(time.monotonic() - started, 1)}
        time.sleep(0.2)


def check_answers(after_id, conversations, tokens):
    """How the turns since `after_id` of these conversations ended up in the database."""
    from chat.models import Message

    expected = "".join(f"t{i} " for i in range(tokens))
    answers = Message.objects.filter(id__gt=after_id, conversation__in=conversations, role="assistant")
    questions = Message.objects.filter(id__gt=after_id, conversation__in=conversations, role="user")
    complete = answers.filter(status="complete", content=expected, completion_tokens=tokens, finish_reason="stop")
    statuses = {}
    for status in answers.values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "answers": answers.count(),
        "complete": complete.count(),
        "questions_saved": questions.filter(content=PROMPT).count(),
        "statuses": statuses,
    }


# --- Scenarios ---------------------------------------------------------------------------------


class Bench:
    def __init__(self, args):
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="chat-bench-"))
        self.upstream = Upstream(args.tokens, args.interval, self.workdir)
        self.port = free_port()
        self.env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": args.database_url or f"sqlite:///{self.workdir / 'bench.sqlite3'}",
            "OPENAI_BASE_URL": self.upstream.url,
            "OPENAI_API_KEY": "bench-key",
            "OPENAI_MODELS": MODEL,
            "OPENAI_DEFAULT_MODEL": MODEL,
            "WEB_CONCURRENCY": str(args.workers),
            "PORT": str(self.port),
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        setup_django(self.env)
        self._prepare_database()
        self.users = Users(self.port)
        self.servers = 0

    def _prepare_database(self):
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        if get_user_model().objects.exists():
            raise SystemExit(
                "The benchmark needs an empty database: the one in --database-url already has users. "
                "Give it a new database (e.g. createdb chat_bench)."
            )
        # The login page needs the static files' manifest with DEBUG off, as `make serve` does.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )

    @contextlib.contextmanager
    def server(self, env=None):
        self.servers += 1
        server = Server({**self.env, **(env or {})}, self.workdir, self.servers)
        try:
            yield server
        finally:
            server.stop()

    def warm_up(self, server):
        """Start every worker's imports, pools and caches; none of it is counted."""
        logins = self.users.create(max(10, 5 * server.workers), prefix=f"warm{self.servers}", login_over_http=1)
        plan = write_plan(self.workdir / "warm.plan", self.users.plan(logins))
        before = latest_message_id()
        run_load(plan, len(logins), self.args.tokens, self.args.interval)
        wait_until_finished(before)

    def streams(self, conc, env=None, *, new_chats=False, api=False):
        """
        N concurrent authenticated chats against a fresh server (with `env` added to its
        settings): later turns of conversations with history, or with `new_chats` each one's
        first message, which asks for a title too. The CPU counts until the titles are made.
        """
        with self.server(env) as server:
            prefix = f"{'n' if new_chats else 'a' if api else 's'}{conc}x{self.servers}"
            logins = self.users.create(conc, prefix=prefix, new_chats=new_chats, api=api)
            plan = write_plan(self.workdir / f"streams-{conc}.plan", self.users.plan(logins))
            self.warm_up(server)
            time.sleep(0.5)
            pids = server.pids()
            libraries = loaded_libraries(pids[-1])
            before_id = latest_message_id()
            cpu_before, rss_before = cpu_ms(pids), rss_mb(pids)
            worker_cpu = {pid: cpu_times(pid) for pid in pids[1:]}
            with PeakSampler(server.process.pid) as sampler, self.profiler(pids[1:], f"streams-{conc}"):
                result = run_load(plan, conc, self.args.tokens, self.args.interval)
                settled = wait_until_finished(before_id)
                if new_chats:
                    result["titles"] = wait_for_titles([entry["conversation"] for entry in logins])
            cpu_after = cpu_ms(server.pids())
            result["per_worker"] = []
            for pid, (cpu_before_pid, sys_before_pid) in worker_cpu.items():
                cpu_after_pid, sys_after_pid = cpu_times(pid)
                result["per_worker"].append(
                    {
                        "cpu_ms": round(cpu_after_pid - cpu_before_pid),
                        "sys_ms": round(sys_after_pid - sys_before_pid),
                        "peak_sockets": sampler.sockets.get(pid, 0),
                    }
                )
            result.update(
                who="django-relay",
                cpu_ms_per_1k_tokens=round((cpu_after - cpu_before) * 1000 / (conc * self.args.tokens), 1),
                rss_before_mb=round(rss_before, 1),
                rss_peak_mb=round(sampler.peak, 1),
                rss_growth_per_1k_streams_mb=round((sampler.peak - rss_before) * 1000 / conc, 1),
                settled=settled,
                db=check_answers(before_id, [entry["conversation"] for entry in logins], self.args.tokens),
                workers=server.workers,
                libraries=libraries,
            )
        log(f"relay x{conc}:", json.dumps(result))
        return result

    def limits(self, conc):
        """
        The cost of the fair-use checks: the same streams with every limit and quota off and
        on (none reached), --limits-pairs times, each time with a control: the same streams
        off once more, whose difference from the first is what two identical runs differ by
        here (a burst's CPU varies by a tenth or more from one run to the next). The three
        take turns at running first: the database grows with each run, and a side always run
        later would pay it.
        """
        orders = [("off", "on", "control"), ("on", "control", "off"), ("control", "off", "on")]
        pairs = []
        for number in range(self.args.limits_pairs):
            pair = {}
            for side in orders[number % len(orders)]:
                pair[side] = self.streams(conc, LIMITS_ON if side == "on" else None)
            pairs.append(pair)
        return {"conc": conc, "pairs": pairs, "check": self.check_cost()}

    def check_cost(self, count=600):
        """
        What the checks cost a turn without a burst's noise: the turn's database unit
        (chat.turns.start: the checks, the question and the empty answer saved), here in one
        thread, for people on their first turn (the costlier check: their activity row is
        made), every other one with every limit on; the median CPU time of each side.
        """
        from django.contrib.auth import get_user_model
        from django.test import override_settings

        from chat import turns
        from chat.models import Conversation, Message

        owners = get_user_model().objects.bulk_create(
            get_user_model()(username=f"check{self.servers}-{number}") for number in range(count)
        )
        conversations = Conversation.objects.bulk_create(Conversation(owner=owner, model=MODEL) for owner in owners)
        spent = {"off": [], "on": []}
        on = {name: int(value) for name, value in LIMITS_ON.items()}
        for number, conversation in enumerate(conversations):
            side = "on" if number % 2 else "off"
            with override_settings(**(on if side == "on" else {})):
                started = time.process_time()
                turn = turns.start(conversation.owner_id, conversation.pk, PROMPT)
                spent[side].append((time.process_time() - started) * 1000)
            # Nothing generates it: ended, so that no later scenario waits for it.
            Message.objects.filter(pk=turn.answer_id).update(status=Message.Status.COMPLETE)
        return {side: round(statistics.median(times), 3) for side, times in spent.items()}

    @contextlib.contextmanager
    def profiler(self, pids, name):
        """With --profile: py-spy samples each worker (collapsed stacks, for flame graphs)."""
        if not self.args.profile:
            yield
            return
        out = Path(self.args.profile)
        out.mkdir(parents=True, exist_ok=True)
        spies = [
            subprocess.Popen(
                [str(BIN / "py-spy"), "record", "--pid", str(pid), "--rate", "250", "--nonblocking", "--format", "raw"]
                + ["--output", str(out / f"{name}-{pid}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid in pids
        ]
        time.sleep(1)
        try:
            yield
        finally:
            for spy in spies:
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                spy.wait(30)

    @contextlib.contextmanager
    def answers_of(self, tokens):
        """The scenarios within run with answers of `tokens` tokens (an upstream of their own)."""
        kept = self.upstream, self.args.tokens, self.env["OPENAI_BASE_URL"]
        self.upstream = Upstream(tokens, self.args.interval, self.workdir)
        self.args.tokens, self.env["OPENAI_BASE_URL"] = tokens, self.upstream.url
        try:
            yield
        finally:
            self.upstream.stop()
            self.upstream, self.args.tokens, self.env["OPENAI_BASE_URL"] = kept

    def cost(self, conc, lengths=(10, 300)):
        """
        Where a stream's CPU goes: the same burst with short and long answers, through the
        Django relay (later turns) and the Node relay, fitted as a fixed cost per stream (the
        request, the turn, the upstream request, the final save) plus a cost per token.
        """
        measured = {}
        for tokens in lengths:
            with self.answers_of(tokens):
                node = self.peer(conc).get("seed-node-relay", {}) if node_available() and not self.args.no_peer else {}
                relay = self.streams(conc)
            measured[str(tokens)] = {
                "django": relay["cpu_ms_per_1k_tokens"] * tokens / 1000,
                "node": node["cpu_ms_per_1k_tokens"] * tokens / 1000 if "cpu_ms_per_1k_tokens" in node else None,
                "failed": relay["failed"] + node.get("failed", 0),
            }
        short, long = lengths
        fitted = {}
        for who in ("django", "node"):
            if measured[str(short)][who] is None:
                continue
            per_token = (measured[str(long)][who] - measured[str(short)][who]) / (long - short)
            fitted[who] = {"fixed_ms": measured[str(short)][who] - per_token * short, "per_token_us": per_token * 1000}
        return {"conc": conc, "lengths": list(lengths), "per_stream_ms": measured, "fitted": fitted}

    def peer(self, conc):
        """The Node relay and the direct upstream, by ../shared/peer-relay/peer.sh."""
        output = subprocess.run(
            [str(PEER / "peer.sh"), str(conc), str(self.args.tokens), str(self.args.interval)],
            capture_output=True,
            text=True,
            timeout=900,
        ).stdout
        lines = {}
        for line in output.splitlines():
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                lines[data.get("who", "error")] = data
        log(f"peer.sh x{conc}:", json.dumps(lines))
        return lines

    def node_memory(self, conc):
        """The Node relay's RSS growth under the same load (peer.sh does not measure memory)."""
        seed = Path(tempfile.gettempdir()) / "peer-seed-node"
        if not (seed / "node_modules" / "openai").is_dir():
            return None
        port = free_port()
        env = {**os.environ, "OPENAI_BASE_URL": self.upstream.url, "OPENAI_API_KEY": "x", "PORT": str(port)}
        process = subprocess.Popen(["node", "server.js"], cwd=seed, env=env, stdout=-3, stderr=-3)
        try:
            wait_for_port(port, process=process)
            url = f"http://127.0.0.1:{port}/chat?prompt=hi"
            warm = write_plan(self.workdir / "node-warm.plan", [{"url": url}] * 10)
            run_load(warm, 10, self.args.tokens, self.args.interval)
            time.sleep(0.5)
            pids = [process.pid]
            cpu_before, rss_before = cpu_ms(pids), rss_mb(pids)
            plan = write_plan(self.workdir / "node.plan", [{"url": url}])
            with PeakSampler(process.pid) as sampler:
                result = run_load(plan, conc, self.args.tokens, self.args.interval)
            result.update(
                who="seed-node-relay (bench run)",
                cpu_ms_per_1k_tokens=round((cpu_ms(pids) - cpu_before) * 1000 / (conc * self.args.tokens), 1),
                rss_before_mb=round(rss_before, 1),
                rss_peak_mb=round(sampler.peak, 1),
                rss_growth_per_1k_streams_mb=round((sampler.peak - rss_before) * 1000 / conc, 1),
            )
        finally:
            process.terminate()
            process.wait(10)
        log(f"node memory x{conc}:", json.dumps(result))
        return result

    def single(self):
        """Time to first token of one stream at a time: through the relay and directly."""
        repeats = self.args.single_repeats
        direct = write_plan(
            self.workdir / "direct.plan",
            [
                {
                    "url": f"{self.upstream.url}/chat/completions",
                    "body": json.dumps(
                        {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
                    ),
                }
            ],
        )
        relay_ttft, direct_ttft = [], []
        with self.server() as server:
            logins = self.users.create(repeats, prefix=f"one{self.servers}")
            self.warm_up(server)
            for entry in self.users.plan(logins):
                plan = write_plan(self.workdir / "one.plan", [entry])
                # Alternate, so that drift in the machine's load hits both alike.
                direct_ttft.append(run_load(direct, 1, self.args.tokens, self.args.interval)["ttft_p50"])
                relay_ttft.append(run_load(plan, 1, self.args.tokens, self.args.interval)["ttft_p50"])
        result = {
            "repeats": repeats,
            "direct_ttft_p50": statistics.median(direct_ttft),
            "relay_ttft_p50": statistics.median(relay_ttft),
            "added_ttft_p50": statistics.median(r - d for r, d in zip(relay_ttft, direct_ttft, strict=True)),
            "direct_ttft": direct_ttft,
            "relay_ttft": relay_ttft,
        }
        log("single:", json.dumps(result))
        return result

    def history(self):
        """A long conversation and a big sidebar, each requested repeatedly."""
        server = Server(self.env, self.workdir, "history")
        try:
            return self._history(server)
        finally:
            server.stop()

    def _history(self, server):
        from django.utils import timezone

        from chat.models import Conversation, Message

        entry = self.users.create(1, prefix="history", login_over_http=1)[0]
        user, long_chat = entry["user"], entry["conversation"]
        now = timezone.now()
        Conversation.objects.bulk_create(
            [
                Conversation(
                    owner=user,
                    model=MODEL,
                    title=f"Conversation {i}",
                    updated_at=now - timezone.timedelta(minutes=i + 1),
                )
                for i in range(self.args.sidebar_conversations - 1)
            ],
            batch_size=1000,
        )
        messages = []
        for i in range(self.args.conversation_messages - 4):  # 4 made with the user
            if i % 2 == 0:
                messages.append(
                    Message(conversation=long_chat, role="user", content=f"问题 {i}: " + "请解释一下。" * 15)
                )
            else:
                messages.append(
                    Message(
                        conversation=long_chat,
                        role="assistant",
                        content=f"Answer {i}: " + "A streamed answer with **markdown** and 中文. " * 20,
                        model=MODEL,
                        prompt_tokens=120,
                        completion_tokens=300,
                        first_token_ms=400,
                        duration_ms=3000,
                        finish_reason="stop",
                    )
                )
        Message.objects.bulk_create(messages, batch_size=500)
        Conversation.objects.filter(pk=long_chat.pk).update(updated_at=now)
        cookie = f"sessionid={entry['session']}; csrftoken={entry['csrf']}"
        results = {}
        for name, path in (("conversation", f"/api/chats/{long_chat.pk}/"), ("sidebar", "/api/chats/")):
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            times = []
            for attempt in range(self.args.history_repeats + 3):
                started = time.perf_counter()
                connection.request("GET", path, headers={"Cookie": cookie})
                response = connection.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status != 200:
                    raise RuntimeError(f"GET {path}: HTTP {response.status}")
                if attempt >= 3:  # the first requests warm the worker up
                    times.append(elapsed)
            data = json.loads(body)
            count = len(data["messages"]) if name == "conversation" else len(data["results"])
            times.sort()
            results[name] = {
                "items": count,
                "bytes": len(body),
                "p50_ms": round(statistics.median(times), 1),
                "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 1),
                "max_ms": round(times[-1], 1),
            }
            connection.close()
        log("history:", json.dumps(results))
        return results

    def search(self):
        """A person with 100,000 messages searching them (GET /api/search/), varied queries."""
        server = Server(self.env, self.workdir, "search")
        try:
            return self._search(server)
        finally:
            server.stop()

    def _search(self, server):
        from django.db import connection

        from chat import search

        entry = self.users.create(1, prefix="search", login_over_http=1)[0]
        started = time.perf_counter()
        count = fill_searchable_history(entry["user"], self.args.search_messages)
        fill_s = time.perf_counter() - started
        # MySQL/MariaDB: the triggers noted the new messages; their n-grams are written before
        # a search (500 at a time), or all at once as here (as `manage.py searchindex` does).
        started = time.perf_counter()
        indexed = 0
        while connection.vendor == "mysql" and (batch := search.index_pending(2000)):
            indexed += batch
        if connection.vendor == "postgresql":
            # The planner's statistics, as autovacuum makes them soon after a big write: without
            # them it reads a rare word's matches through the primary key instead of the index.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        index_s = time.perf_counter() - started
        cookie = f"sessionid={entry['session']}; csrftoken={entry['csrf']}"
        connection_ = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        times = {kind: [] for kind, _ in SEARCH_QUERIES}
        hits = {}
        queries = list(SEARCH_QUERIES) * (self.args.search_repeats // len(SEARCH_QUERIES) + 1)
        queries = queries[: self.args.search_repeats]
        for attempt, (kind, query) in enumerate([*SEARCH_QUERIES, *queries]):
            path = "/api/search/?" + urlencode({"q": query})
            started = time.perf_counter()
            connection_.request("GET", path, headers={"Cookie": cookie})
            response = connection_.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status} {body[:200]!r}")
            if attempt >= len(SEARCH_QUERIES):  # one round of each first, to warm the worker and caches
                times[kind].append(elapsed)
                hits[kind] = len(json.loads(body)["results"])
        # What any request of the person costs on this database, search or not (the session read,
        # and on MySQL a new connection each request): the part of the times above that is not
        # the search's.
        baseline = []
        for _ in range(50):
            started = time.perf_counter()
            connection_.request("GET", "/api/models/", headers={"Cookie": cookie})
            connection_.getresponse().read()
            baseline.append((time.perf_counter() - started) * 1000)
        connection_.close()
        every = sorted(t for kind_times in times.values() for t in kind_times)
        result = {
            "messages": count,
            "fill_s": round(fill_s, 1),
            "index_s": round(index_s, 1),
            "searches": len(every),
            "p50_ms": round(statistics.median(every), 1),
            "p99_ms": round(every[min(len(every) - 1, int(0.99 * len(every)))], 1),
            "max_ms": round(every[-1], 1),
            "baseline_p50_ms": round(statistics.median(baseline), 1),
            "kinds": {
                kind: {
                    "query": dict(SEARCH_QUERIES)[kind],
                    "hits_page_1": hits.get(kind),
                    "p50_ms": round(statistics.median(kind_times), 1),
                    "max_ms": round(max(kind_times), 1),
                }
                for kind, kind_times in times.items()
            },
        }
        log("search:", json.dumps(result))
        return result

    def disconnect(self):
        """Hundreds of streams; a third of the clients hang up at random points."""
        conc = self.args.disconnect_streams
        with self.server() as server:
            logins = self.users.create(conc, prefix=f"hangup{self.servers}")
            plan = write_plan(self.workdir / "hangup.plan", self.users.plan(logins))
            self.warm_up(server)
            before_id = latest_message_id()
            result = run_load(plan, conc, self.args.tokens, self.args.interval, disconnect=1 / 3)
            result["settled"] = wait_until_finished(before_id)
            result["db"] = check_answers(before_id, [entry["conversation"] for entry in logins], self.args.tokens)
        log("disconnect:", json.dumps(result))
        return result

    def close(self):
        self.upstream.stop()
        if not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


# --- Report ---------------------------------------------------------------------------------


def machine():
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node = (
        subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        if shutil.which("node")
        else "-"
    )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * PAGE_SIZE / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": node,
        "commit": commit.strip() + ("+changes" if dirty.strip() else ""),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": os.getloadavg()[0],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="200,1000", help="concurrent stream counts, comma-separated")
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--interval", type=int, default=20, help="ms between two tokens of the fake upstream")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or None,
        help="an empty database (default: $DATABASE_URL, else a new SQLite file in a temp dir)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="repeat the stream scenarios this many times")
    parser.add_argument(
        "--scenarios",
        "--only",
        default="streams,new-chats,api,cost,limits,single,history,disconnect,search",
        help="which scenarios, comma-separated (e.g. --only search)",
    )
    parser.add_argument("--single-repeats", type=int, default=15)
    parser.add_argument("--limits-pairs", type=int, default=4, help="off/on/control runs of the limits scenario")
    parser.add_argument("--history-repeats", type=int, default=30)
    parser.add_argument("--conversation-messages", type=int, default=2000)
    parser.add_argument("--sidebar-conversations", type=int, default=10_000)
    parser.add_argument("--disconnect-streams", type=int, default=300)
    parser.add_argument("--search-messages", type=int, default=100_000)
    parser.add_argument("--search-repeats", type=int, default=200, help="searches timed, of the kinds in turn")
    parser.add_argument("--no-peer", action="store_true", help="skip the Node relay and direct upstream")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"), help="'-' for none")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, database)")
    parser.add_argument(
        "--profile", metavar="DIR", help="record py-spy profiles of the workers here (pip install py-spy)"
    )
    args = parser.parse_args()
    scenarios = set(args.scenarios.split(","))
    counts = [int(n) for n in args.streams.split(",") if n]

    info = machine()
    bench = Bench(args)
    log(f"work dir {bench.workdir}, upstream {bench.upstream.kind}, database {bench.env['DATABASE_URL']}")
    results = {"machine": info, "args": vars(args), "upstream": bench.upstream.kind, "rounds": []}
    try:
        if "streams" in scenarios:
            for round_number in range(args.rounds):
                entry = {}
                for conc in counts:
                    entry[conc] = {}
                    if node_available() and not args.no_peer:
                        entry[conc].update(bench.peer(conc))
                        entry[conc]["node-memory"] = bench.node_memory(conc)
                    entry[conc]["relay"] = bench.streams(conc)
                    if "new-chats" in scenarios:
                        entry[conc]["relay-new-chats"] = bench.streams(conc, new_chats=True)
                    if "api" in scenarios:
                        entry[conc]["relay-api"] = bench.streams(conc, api=True)
                results["rounds"].append(entry)
                log(f"round {round_number + 1} of {args.rounds} done")
        if "cost" in scenarios:
            results["cost"] = bench.cost(counts[0])
        if "limits" in scenarios:
            results["limits"] = bench.limits(counts[0])
        if "single" in scenarios:
            results["single"] = bench.single()
        if "history" in scenarios:
            results["history"] = bench.history()
        if "disconnect" in scenarios:
            results["disconnect"] = bench.disconnect()
        if "search" in scenarios:
            results["search"] = bench.search()
    finally:
        bench.close()
    results["database"] = bench.env["DATABASE_URL"].split(":", 1)[0]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / f"{stamp}.json").write_text(json.dumps(results, indent=1, default=str))
    from report import render  # bench/report.py

    markdown = render(results)
    print(markdown)
    if args.output != "-":
        write_section(Path(args.output), markdown)
        log(f"wrote {args.output}")


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def write_section(path, markdown):
    """Replace the generated part of docs/benchmarks.md, keeping the hand-written rest."""
    text = path.read_text(encoding="utf-8") if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    path.write_text(f"{head}{BEGIN}\n{markdown}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
