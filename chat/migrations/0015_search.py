"""
The full-text search index of messages (chat.search), in each database's own engine:

- SQLite: an FTS5 table with the trigram tokenizer over chat_message's content (external
  content: the text is not stored twice), kept by triggers on chat_message.
- PostgreSQL: pg_trgm's GIN indexes on the message text and the conversation title, which the
  database keeps itself. CREATE EXTENSION needs a user allowed to create it (the database's
  owner, on PostgreSQL 13+, for this trusted extension), or an operator who ran it once.
- MySQL/MariaDB: MariaDB has no n-gram parser, so a table of the messages' n-grams, written
  by chat.search as hexadecimal words that InnoDB's FULLTEXT index takes as they are; the
  triggers here only note which messages changed (a cheap insert, on the streaming path),
  chat.search indexes them before a search.
"""

from django.db import migrations

SQLITE = [
    """CREATE VIRTUAL TABLE chat_message_search USING fts5(
        content, content='chat_message', content_rowid='id', tokenize='trigram')""",
    "INSERT INTO chat_message_search(chat_message_search) VALUES ('rebuild')",
    """CREATE TRIGGER chat_message_search_insert AFTER INSERT ON chat_message BEGIN
        INSERT INTO chat_message_search(rowid, content) VALUES (new.id, new.content);
    END""",
    """CREATE TRIGGER chat_message_search_delete AFTER DELETE ON chat_message BEGIN
        INSERT INTO chat_message_search(chat_message_search, rowid, content) VALUES ('delete', old.id, old.content);
    END""",
    # Only when the text changed: an answer's "still alive" saves touch updated_at alone.
    """CREATE TRIGGER chat_message_search_update AFTER UPDATE OF content ON chat_message
    WHEN old.content IS NOT new.content BEGIN
        INSERT INTO chat_message_search(chat_message_search, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO chat_message_search(rowid, content) VALUES (new.id, new.content);
    END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS chat_message_search_insert",
    "DROP TRIGGER IF EXISTS chat_message_search_delete",
    "DROP TRIGGER IF EXISTS chat_message_search_update",
    "DROP TABLE IF EXISTS chat_message_search",
]

POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS chat_message_content_trgm ON chat_message USING gin (content gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS chat_conversation_title_trgm ON chat_conversation USING gin (title gin_trgm_ops)",
]
POSTGRESQL_REVERSE = [
    "DROP INDEX IF EXISTS chat_message_content_trgm",
    "DROP INDEX IF EXISTS chat_conversation_title_trgm",
]

MYSQL = [
    # The words are ASCII (hexadecimal), and no stopword list may drop one.
    "SET SESSION innodb_ft_enable_stopword = 0",
    """CREATE TABLE chat_message_search (
        message_id BIGINT NOT NULL PRIMARY KEY,
        grams LONGTEXT CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
        FULLTEXT KEY chat_message_search_grams (grams)
    ) ENGINE=InnoDB""",
    "CREATE TABLE chat_message_search_pending (message_id BIGINT NOT NULL PRIMARY KEY) ENGINE=InnoDB",
    "INSERT INTO chat_message_search_pending (message_id) SELECT id FROM chat_message WHERE content <> ''",
    """CREATE TRIGGER chat_message_search_insert AFTER INSERT ON chat_message FOR EACH ROW
        IF NEW.content <> '' THEN
            INSERT IGNORE INTO chat_message_search_pending (message_id) VALUES (NEW.id);
        END IF""",
    # BINARY: a change of case alone is a change (the column's collation ignores case).
    """CREATE TRIGGER chat_message_search_update AFTER UPDATE ON chat_message FOR EACH ROW
        IF NOT (BINARY NEW.content <=> BINARY OLD.content) THEN
            INSERT IGNORE INTO chat_message_search_pending (message_id) VALUES (NEW.id);
        END IF""",
    # The pending row first, as chat.search's indexing locks them: never a lock cycle.
    """CREATE TRIGGER chat_message_search_delete AFTER DELETE ON chat_message FOR EACH ROW
    BEGIN
        DELETE FROM chat_message_search_pending WHERE message_id = OLD.id;
        DELETE FROM chat_message_search WHERE message_id = OLD.id;
    END""",
]
MYSQL_REVERSE = [
    "DROP TRIGGER IF EXISTS chat_message_search_insert",
    "DROP TRIGGER IF EXISTS chat_message_search_update",
    "DROP TRIGGER IF EXISTS chat_message_search_delete",
    "DROP TABLE IF EXISTS chat_message_search_pending",
    "DROP TABLE IF EXISTS chat_message_search",
]

FORWARD = {"sqlite": SQLITE, "postgresql": POSTGRESQL, "mysql": MYSQL}
REVERSE = {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRESQL_REVERSE, "mysql": MYSQL_REVERSE}


def run(statements):
    def operation(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return operation


class Migration(migrations.Migration):
    # MySQL cannot roll DDL back: Django refuses it inside a transaction.
    atomic = False

    dependencies = [
        ("chat", "0014_attachments"),
    ]

    operations = [
        migrations.RunPython(run(FORWARD), run(REVERSE), elidable=False),
    ]
