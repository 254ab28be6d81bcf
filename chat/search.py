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


class Engine:
    """The SQL of one database: a title hit and a message hit, in one ordered query."""

    def escaped(self, term):
        return "%" + re.sub(r"([\\%_])", r"\\\1", term) + "%"

    def title_match(self, terms):
        """SQL that a conversation `c`'s title has every term, and its parameters."""
        return " AND ".join(["c.title LIKE %s"] * len(terms)), [self.escaped(term) for term in terms]

    def message_match(self, terms):
        """The FROM of the messages `m` and SQL that a message has every term, with the
        parameters of both."""
        raise NotImplementedError

    def hits(self, user_id, terms, *, offset, limit):
        title_where, title_params = self.title_match(terms)
        message_from, message_where, message_params = self.message_match(terms)
        sql = f"""
            SELECT {TITLE} AS kind, c.id AS conversation_id, NULL AS message_id, c.title, c.archived,
                   c.title AS text, c.updated_at AS at, '' AS role
              FROM chat_conversation c
             WHERE c.owner_id = %s AND {title_where}
            UNION ALL
            SELECT {MESSAGE}, m.conversation_id, m.id, c.title, c.archived, m.content, m.created_at, m.role
              FROM {message_from} JOIN chat_conversation c ON c.id = m.conversation_id
             WHERE c.owner_id = %s AND m.content <> '' AND {message_where}
             ORDER BY kind, at DESC, message_id DESC
             LIMIT %s OFFSET %s"""
        params = [user_id, *title_params, user_id, *message_params, limit, offset]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


class SQLite(Engine):
    """
    FTS5's trigram tokenizer finds any substring of three characters or more, Chinese too,
    whatever its case. A shorter term (数据, "go") has no trigram to look up: it is checked
    with LIKE on the rows the longer terms found, or on all the person's messages when every
    term is short, which is slower but right (LIKE ignores the case of ASCII letters only).
    """

    def title_match(self, terms):
        return " AND ".join(["c.title LIKE %s ESCAPE '\\'"] * len(terms)), [self.escaped(term) for term in terms]

    def message_match(self, terms):
        long_terms = [term for term in terms if len(term) >= 3]
        short_terms = [term for term in terms if len(term) < 3]
        where, params = [], []
        if long_terms:
            where.append("m.id IN (SELECT rowid FROM chat_message_search WHERE chat_message_search MATCH %s)")
            params.append(" AND ".join('"' + term.replace('"', '""') + '"' for term in long_terms))
        for term in short_terms:
            where.append("m.content LIKE %s ESCAPE '\\'")
            params.append(self.escaped(term))
        return "chat_message m", " AND ".join(where), params


class PostgreSQL(Engine):
    """
    pg_trgm's GIN index answers ILIKE '%term%' (any substring, Chinese too, whatever its
    case) from the trigrams of the term, and checks the rows it found. A term shorter than
    three characters has none: PostgreSQL then reads the person's messages.
    """

    def title_match(self, terms):
        return " AND ".join(["c.title ILIKE %s"] * len(terms)), [self.escaped(term) for term in terms]

    def message_match(self, terms):
        return "chat_message m", " AND ".join(["m.content ILIKE %s"] * len(terms)), [self.escaped(t) for t in terms]


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

    def hits(self, user_id, terms, *, offset, limit):
        try:
            index_pending(self.BATCH)
        except DatabaseError as exc:
            # Another search indexing the same rows, a deadlock's victim: search what is indexed.
            logger.warning("search: indexing the changed messages failed (%s); searching the index as it is", exc)
        return super().hits(user_id, terms, offset=offset, limit=limit)

    def message_match(self, terms):
        grams = [gram for term in terms for gram in query_grams(term)]
        likes = " AND ".join(["m.content LIKE %s"] * len(terms))
        params = [self.escaped(term) for term in terms]
        if not grams:
            return "chat_message m", likes, params
        against = " ".join("+" + word_of(gram) for gram in dict.fromkeys(grams))
        return (
            "chat_message_search s JOIN chat_message m ON m.id = s.message_id",
            f"MATCH (s.grams) AGAINST (%s IN BOOLEAN MODE) AND {likes}",
            [against, *params],
        )


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


ENGINES = {"sqlite": SQLite, "postgresql": PostgreSQL, "mysql": MySQL}
