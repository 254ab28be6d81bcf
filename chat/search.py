"""
Full-text search over a person's own conversations (GET /api/search/): their titles and the
text of their messages, questions and answers, in the database's own engine. The indexes are
made by chat/migrations/0012_search.py; the SQL of each engine is its class below:

- SQLite: FTS5 with the trigram tokenizer, kept by triggers on chat_message.
- PostgreSQL: pg_trgm's GIN indexes, on the message text and the title, queried with ILIKE.
- MySQL/MariaDB: a FULLTEXT index over the messages' n-grams written as hexadecimal words
  (MariaDB has no n-gram parser), narrowed by the index, then checked with LIKE.

A query means the same everywhere: terms split on whitespace, a "quoted phrase" one term; a
hit has every term (AND) as a substring, whatever its case. Title hits come first, one per
conversation, with message_id null; then the messages, each kind most recent first. Archived
conversations are searched too (their hits say "archived": true); deleted ones are gone with
their rows. Each hit has a snippet of its text around the first match and the [start, end)
offsets in it of every occurrence of every term.
"""

import logging
import re
from datetime import UTC

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from chat.errors import Invalid

logger = logging.getLogger("chat.search")

PAGE_SIZE = 20
MAX_QUERY_CHARS = 200
MAX_TERMS = 10
MAX_PAGE = 10_000
SNIPPET_CHARS = 160
# A snippet begins this far before its first match, so that the hit reads in its context.
SNIPPET_LEAD = 50

# A "quoted phrase" or a run of non-space characters.
TERM = re.compile(r'"([^"]*)"|(\S+)')


def terms_of(query):
    """The terms of a query, each once (whatever its case); a phrase's spaces made single."""
    terms, seen = [], set()
    for phrase, word in TERM.findall(query):
        term = " ".join(phrase.split()) if phrase else word.strip('"')
        if term and term.casefold() not in seen:
            seen.add(term.casefold())
            terms.append(term)
    return terms


def search(user_id, query, page=1):
    """
    A page of the person's hits for `query` (as the API shows them) and the next page's
    number, or None. Invalid for an empty or too long query.
    """
    # NUL is no character a database's text takes; as a separator it is harmless.
    query = (query or "").replace("\x00", " ")
    if len(query) > MAX_QUERY_CHARS:
        raise Invalid(_("'q' is longer than %(max_length)s characters.") % {"max_length": MAX_QUERY_CHARS}, field="q")
    terms = terms_of(query)
    if not terms:
        raise Invalid(_("Type what to search for: 'q' must not be empty."), field="q")
    if len(terms) > MAX_TERMS:
        raise Invalid(_("Search for at most %(count)s words at once.") % {"count": MAX_TERMS}, field="q")
    if not 1 <= page <= MAX_PAGE:
        raise Invalid(_("'page' must be a number from 1 to %(max)s.") % {"max": MAX_PAGE}, field="page")
    engine = ENGINES[connection.vendor]()
    rows = engine.hits(user_id, terms, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
    pattern = highlighter(terms)
    results = [result_of(row, pattern) for row in rows[:PAGE_SIZE]]
    return results, (page + 1 if len(rows) > PAGE_SIZE else None)


def highlighter(terms):
    # Longest first: where one term holds another, the longer is marked.
    return re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE)


def snippet_of(text, pattern):
    """About SNIPPET_CHARS characters of `text` around the first match, its whitespace made
    single spaces, and the [start, end) ranges of every match in it."""
    first = pattern.search(text)
    start = max(0, first.start() - SNIPPET_LEAD) if first else 0
    if start:
        # Begin at a word when a space is near (Chinese has none: then where it falls).
        space = text.find(" ", start, first.start())
        if 0 <= space - start < 15:
            start = space + 1
    snippet = " ".join(text[start : start + SNIPPET_CHARS].split())
    if start:
        snippet = "…" + snippet
    if start + SNIPPET_CHARS < len(text):
        snippet += "…"
    highlights = []
    for match in pattern.finditer(snippet):
        if highlights and match.start() <= highlights[-1][1]:
            highlights[-1][1] = max(highlights[-1][1], match.end())
        else:
            highlights.append([match.start(), match.end()])
    return snippet, highlights


def result_of(row, pattern):
    kind, conversation_id, message_id, title, archived, text, at, role = row
    snippet, highlights = snippet_of(text or "", pattern)
    return {
        "conversation_id": conversation_id,
        # A title hit names no message: the conversation opens at its end, as from the sidebar.
        "message_id": message_id if kind == MESSAGE else None,
        "title": title,
        "snippet": snippet,
        "highlights": highlights,
        "in": "message" if kind == MESSAGE else "title",
        "role": role or None,
        "archived": bool(archived),
        # The message's time; for a title hit, the conversation's last activity.
        "created_at": aware(at).isoformat(),
    }


def aware(value):
    """A time as the raw cursor gives it (SQLite: text; MySQL: naive UTC) made aware."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if settings.USE_TZ and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


TITLE, MESSAGE = 0, 1
# The messages a search reads: those with text, of the versions shown (models.Message.hidden_in).
READ = "m.content <> '' AND m.hidden_in IS NULL"


class Engine:
    """
    The SQL of one database. Title hits are few (a person's conversations, their titles
    scanned); message hits are many, so they come in the order an index gives them without a
    sort: by id, newest first. Ids follow the order messages were written, which is their
    time, but for imported conversations: those rank as of when they were imported.
    """

    def escaped(self, term):
        return "%" + re.sub(r"([\\%_])", r"\\\1", term) + "%"

    def title_match(self, terms):
        """SQL that a conversation `c`'s title has every term, and its parameters."""
        return " AND ".join(["c.title LIKE %s"] * len(terms)), [self.escaped(term) for term in terms]

    def message_hits(self, user_id, terms, *, offset, limit):
        """(id, conversation id, title, archived, content, created_at, role) of the
        person's messages with every term, newest first."""
        raise NotImplementedError

    def hits(self, user_id, terms, *, offset, limit):
        where, params = self.title_match(terms)
        sql = f"""
            SELECT c.id, c.title, c.archived, c.updated_at FROM chat_conversation c
             WHERE c.owner_id = %s AND {where} ORDER BY c.updated_at DESC, c.id DESC LIMIT %s"""
        with connection.cursor() as cursor:
            cursor.execute(sql, [user_id, *params, offset + limit])
            titles = [(TITLE, pk, None, title, archived, title, at, "") for pk, title, archived, at in cursor]
        page = titles[offset:]
        if len(page) < limit:
            # Past the titles: the messages, from where the titles end.
            skipped = max(0, offset - len(titles))
            rows = self.message_hits(user_id, terms, offset=skipped, limit=limit - len(page))
            page += [(MESSAGE, conversation_id, pk, *rest) for pk, conversation_id, *rest in rows]
        return page


class SQLite(Engine):
    """
    FTS5's trigram tokenizer finds any substring of three characters or more, Chinese too,
    whatever its case. A shorter term (数据, "go") has no trigram to look up: it is checked
    with LIKE on the rows the longer terms found, or on all the person's messages when every
    term is short, which is slower but right (LIKE ignores the case of ASCII letters only).
    """

    def title_match(self, terms):
        return " AND ".join(["c.title LIKE %s ESCAPE '\\'"] * len(terms)), [self.escaped(term) for term in terms]

    def message_hits(self, user_id, terms, *, offset, limit):
        long_terms = [term for term in terms if len(term) >= 3]
        where, params = ["c.owner_id = %s", READ], [user_id]
        for term in terms:
            if len(term) < 3:
                where.append("m.content LIKE %s ESCAPE '\\'")
                params.append(self.escaped(term))
        if long_terms:
            # The FTS table first (CROSS JOIN keeps SQLite's join order), read by rowid from
            # the newest: the LIMIT ends the reading, with no sort of every match.
            source = (
                "chat_message_search s CROSS JOIN chat_message m ON m.id = s.rowid"
                " CROSS JOIN chat_conversation c ON c.id = m.conversation_id"
            )
            where.insert(0, "chat_message_search MATCH %s")
            params.insert(0, " AND ".join('"' + term.replace('"', '""') + '"' for term in long_terms))
            order = "s.rowid DESC"
        else:
            # Newest first by the primary key, until a page is found: quick for a common
            # short word, a read of every message for a rare one.
            source = "chat_message m CROSS JOIN chat_conversation c ON c.id = m.conversation_id"
            order = "m.id DESC"
        return select_messages(source, where, params, order, offset=offset, limit=limit)


class PostgreSQL(Engine):
    """
    pg_trgm's GIN index answers ILIKE '%term%' (any substring, Chinese too, whatever its
    case) from the trigrams of the term, and checks the rows it found. A term shorter than
    three characters has none: PostgreSQL then reads the person's messages.
    """

    def title_match(self, terms):
        return " AND ".join(["c.title ILIKE %s"] * len(terms)), [self.escaped(term) for term in terms]

    def message_hits(self, user_id, terms, *, offset, limit):
        # A term with no case (Chinese, digits) takes LIKE, which the index serves as well and
        # which checks a row three times faster: a short rare one reads every message.
        where = ["c.owner_id = %s", READ]
        where += ["m.content LIKE %s" if term.lower() == term.upper() else "m.content ILIKE %s" for term in terms]
        params = [user_id, *(self.escaped(term) for term in terms)]
        source = "chat_message m JOIN chat_conversation c ON c.id = m.conversation_id"
        return select_messages(source, where, params, "m.id DESC", offset=offset, limit=limit)


class MySQL(Engine):
    """
    MariaDB's FULLTEXT has no n-gram parser (MySQL's would need its own index and server
    settings; this one path serves both). So chat_message_search holds each message's
    n-grams, every trigram and the bigrams of non-ASCII characters (Chinese words are often two
    characters), lowercased, each written as the hexadecimal of its UTF-8: a word of 4 to 24
    letters that InnoDB's tokenizer keeps whole, longer than its minimum token size and never a
    stopword. A query needs the trigrams that cover each term (every third and the last),
    all of them (BOOLEAN MODE, +each); LIKE then checks the term itself. A term of one
    character, or of two ASCII ones, has no n-gram: LIKE alone.

    The triggers only note which messages changed (chat_message_search_pending): n-grams from
    a trigger (SQL loops) cost a streaming answer 100 ms and more a save; here they take a
    fraction of that, before each search, for what changed since the last one.
    """

    # The messages indexed before a search at most: any more (a big import) are indexed by
    # the next searches, or at once by `manage.py searchindex`.
    BATCH = 500
    NEWEST = 2000

    def hits(self, user_id, terms, *, offset, limit):
        try:
            index_pending(self.BATCH)
        except DatabaseError as exc:
            # Another search indexing the same rows, a deadlock's victim: search what is indexed.
            logger.warning("search: indexing the changed messages failed (%s); searching the index as it is", exc)
        return super().hits(user_id, terms, offset=offset, limit=limit)

    def message_hits(self, user_id, terms, *, offset, limit):
        grams = [gram for term in terms for gram in query_grams(term)]
        where = ["c.owner_id = %s", READ, *(["m.content LIKE %s"] * len(terms))]
        params = [user_id, *(self.escaped(term) for term in terms)]
        # InnoDB's FULLTEXT reads every match of a word before the LIMIT: a common one (in a
        # third of 100,000 messages) costs seconds. A common word is in the newest messages
        # too, so they are read first, newest first, until a page is found or NEWEST are
        # read; only a rarer word (whose matches the index reads quickly) goes on to the index.
        with connection.cursor() as cursor:
            cursor.execute("SELECT MAX(id) FROM chat_message")
            (newest,) = cursor.fetchone()
        rows = select_messages(
            "chat_message m FORCE INDEX (PRIMARY) STRAIGHT_JOIN chat_conversation c ON c.id = m.conversation_id",
            [*where, "m.id > %s"],
            [*params, (newest or 0) - self.NEWEST],
            "m.id DESC",
            offset=offset,
            limit=limit,
        )
        if len(rows) == limit:
            return rows
        if grams:
            source = (
                "chat_message_search s JOIN chat_message m ON m.id = s.message_id"
                " JOIN chat_conversation c ON c.id = m.conversation_id"
            )
            where.insert(0, "MATCH (s.grams) AGAINST (%s IN BOOLEAN MODE)")
            params.insert(0, " ".join("+" + word_of(gram) for gram in dict.fromkeys(grams)))
        else:
            source = "chat_message m JOIN chat_conversation c ON c.id = m.conversation_id"
        return select_messages(source, where, params, "m.id DESC", offset=offset, limit=limit)


def word_of(gram):
    return gram.encode("utf-8", "surrogatepass").hex()


def grams_of(text):
    """The words chat_message_search holds of a message (MySQL)."""
    text = text.lower()
    grams = {text[i : i + 3] for i in range(len(text) - 2)}
    grams.update(text[i : i + 2] for i in range(len(text) - 1) if text[i] > "\x7f" and text[i + 1] > "\x7f")
    return " ".join(word_of(gram) for gram in grams)


def query_grams(term):
    """The n-grams a message with `term` has for sure, few enough to look up quickly."""
    term = term.lower()
    if len(term) >= 3:
        starts = list(range(0, len(term) - 2, 3))
        if starts[-1] != len(term) - 3:
            starts.append(len(term) - 3)
        return [term[i : i + 3] for i in starts]
    if len(term) == 2 and term[0] > "\x7f" and term[1] > "\x7f":
        return [term]
    return []


def index_pending(limit):
    """
    Index up to `limit` of the messages whose text changed (MySQL); returns how many. Each
    pending row is locked until the index has its text, so a save meanwhile notes it again
    (its trigger waits for the lock) rather than being lost; rows another search is indexing
    are left to it.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT message_id FROM chat_message_search_pending ORDER BY message_id LIMIT %s FOR UPDATE SKIP LOCKED",
            [limit],
        )
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return 0
        marks = ", ".join(["%s"] * len(ids))
        cursor.execute(f"SELECT id, content FROM chat_message WHERE id IN ({marks})", ids)
        found = cursor.fetchall()
        cursor.executemany(
            "REPLACE INTO chat_message_search (message_id, grams) VALUES (%s, %s)",
            [(message_id, grams_of(content)) for message_id, content in found],
        )
        cursor.execute(f"DELETE FROM chat_message_search_pending WHERE message_id IN ({marks})", ids)
    return len(ids)


def select_messages(source, where, params, order, *, offset, limit):
    sql = (
        "SELECT m.id, m.conversation_id, c.title, c.archived, m.content, m.created_at, m.role"
        f" FROM {source} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit, offset])
        return cursor.fetchall()


ENGINES = {"sqlite": SQLite, "postgresql": PostgreSQL, "mysql": MySQL}
