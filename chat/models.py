from datetime import timedelta

from django.conf import settings
from django.db import connections, models, transaction
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _


class RowUpdates(models.QuerySet):
    """Updates of many rows at once, for the writes of the relay."""

    def update_each(self, fields, rows, *, status=None):
        """
        Update one object per row of `rows` (the values of `fields`, then the object's pk),
        all with one statement that the database driver runs for each row (executemany):
        the answers a process finishes or saves together cost one prepared UPDATE, not one
        ORM query each. With `status`, only the rows that still have that status change.
        """
        if not rows:
            return
        connection = connections[self.db]
        quote = connection.ops.quote_name
        model_fields = [self.model._meta.get_field(name) for name in fields]
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in model_fields)
        table = quote(self.model._meta.db_table)
        if connection.vendor == "mysql":
            # InnoDB locks the index entries an UPDATE finds its rows through. Given the
            # status as well, MySQL/MariaDB may find the row through the (status, updated_at)
            # index and lock that entry before the row, where a write by primary key locks
            # the row first: two writes of one answer, each holding what the other waits
            # for, deadlock. Through the primary key, every write locks the row first.
            table += " FORCE INDEX (PRIMARY)"
        sql = f"UPDATE {table} SET {assignments} WHERE {quote('id')} = %s"
        if status is not None:
            sql += f" AND {quote('status')} = %s"
        params = [
            [field.get_db_prep_save(value, connection) for field, value in zip(model_fields, row, strict=False)]
            + [row[-1]]
            + ([str(status)] if status is not None else [])
            for row in rows
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


class ConversationQuerySet(RowUpdates):
    def for_user(self, user):
        return self.filter(owner=user)

    def recent(self):
        return self.order_by("-updated_at", "-id")

    def get_for_user(self, user, pk):
        """
        for_user(user).get(pk=pk), in SQL: it runs for every chat turn, and the ORM took four
        times as long to build the query as the database took to answer it.
        """
        quote = connections[self.db].ops.quote_name
        sql = f"SELECT * FROM {quote(self.model._meta.db_table)} WHERE {quote('id')} = %s AND {quote('owner_id')} = %s"
        found = list(self.raw(sql, [pk, user.pk]))
        if not found:
            raise self.model.DoesNotExist
        return found[0]


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="conversations", verbose_name=_("owner")
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    model = models.CharField(_("model"), max_length=100)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            # The sidebar: a user's conversations, most recently active first.
            models.Index(fields=["owner", "-updated_at", "-id"], name="conversation_owner_recent"),
        ]

    def __str__(self):
        return self.title or _("New chat")

    def upstream_messages(self, *, before_id=None, question=None):
        """
        The messages sent upstream for the next answer: the system prompt, then the most
        recent turns that fit the history budget, oldest first. Reasoning text and failed
        answers never go back upstream. `question` is a new question not saved yet, the newest
        message. Returns the messages, and whether the conversation had none before.
        """
        budget = settings.CHAT_HISTORY_CHARS
        picked = []
        limit = settings.CHAT_HISTORY_MESSAGES
        if question is not None:
            picked.append({"role": Message.Role.USER, "content": question})
            budget -= len(question)
            limit -= 1
        # At least one row, to tell whether there is any: every turn has a question, and
        # questions are never empty, so no rows means no earlier turn.
        rows = Message.objects.history(self.pk, max(limit, 1), before_id=before_id)
        for role, content in rows[: max(limit, 0)]:
            # The newest message always goes, whatever its length.
            if picked and len(content) > budget:
                break
            budget -= len(content)
            picked.append({"role": role, "content": content})
        picked.reverse()
        if self.system_prompt:
            picked.insert(0, {"role": Message.Role.SYSTEM, "content": self.system_prompt})
        return picked, not rows

    @transaction.atomic
    def begin_turn(self, content):
        """
        Save the user's message and an empty assistant message to stream into, before any
        upstream call, so that nothing the person typed is lost whatever happens next.
        """
        now = timezone.now()
        question = Message(conversation=self, role=Message.Role.USER, content=content, created_at=now)
        answer = self._new_answer(now)
        if connections[self._state.db or "default"].features.can_return_rows_from_bulk_insert:
            # One INSERT for both (MySQL cannot return their ids from it; MariaDB can).
            Message.objects.bulk_create([question, answer])
        else:
            question.save()
            answer.save()
        if not self.title:
            self.title = Truncator(" ".join(content.split())).chars(60)
        self.updated_at = now
        # save(update_fields=...) without the ORM's query building, on every chat turn.
        Conversation.objects.update_each(("title", "updated_at"), [(self.title, now, self.pk)])
        return question, answer

    @transaction.atomic
    def regenerate(self, answer):
        """Replace the last answer with a new, empty one to the same question."""
        answer.delete()
        self.touch()
        return self.begin_answer()

    @transaction.atomic
    def edit(self, question, content):
        """Change an earlier question: everything after it goes, and a new answer starts."""
        question.content = content
        question.save(update_fields=["content", "updated_at"])
        self.messages.filter(id__gt=question.pk).delete()
        self.touch()
        return self.begin_answer()

    def touch(self):
        self.updated_at = timezone.now()
        self.save(update_fields=["updated_at"])

    def begin_answer(self):
        answer = self._new_answer(timezone.now())
        answer.save()
        return answer

    def _new_answer(self, now):
        return Message(
            conversation=self,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            model=self.model,
            created_at=now,
        )


class MessageQuerySet(RowUpdates):
    def for_user(self, user):
        return self.filter(conversation__owner=user)

    def abandoned(self):
        """
        Answers still marked streaming whose generating process stopped refreshing them
        (it was killed): they will never finish.
        """
        silent_for = timedelta(seconds=settings.CHAT_ABANDONED_SECONDS)
        return self.filter(status=Message.Status.STREAMING, updated_at__lt=timezone.now() - silent_for)

    def mark_abandoned_interrupted(self):
        """
        Mark the abandoned answers among these interrupted; returns how many there were.
        It looks before it writes: this runs whenever a page or a stream finds an answer
        streaming, and on MySQL/MariaDB an UPDATE that finds its rows by status locks them in
        the other order than the generating process's saves (see update_each), so the two
        can deadlock. Answers really abandoned are rare, and no process saves them any more.
        """
        abandoned = self.abandoned()
        if not abandoned.exists():
            return 0
        return abandoned.update(status=Message.Status.INTERRUPTED, updated_at=timezone.now())

    def history(self, conversation_id, limit, *, before_id=None):
        """
        (role, content) of the `limit` newest messages of a conversation that may go back
        upstream (questions, and answers that completed or were stopped, never empty ones),
        newest first. Written in SQL, as it runs for every chat turn: built by the ORM, this
        query took ten times the CPU the database takes to run it.
        """
        connection = connections[self.db]
        quote = connection.ops.quote_name
        statuses = ", ".join(["%s"] * len(HISTORY_STATUSES))
        sql = (
            f"SELECT {quote('role')}, {quote('content')} FROM {quote(self.model._meta.db_table)}"
            f" WHERE {quote('conversation_id')} = %s AND {quote('content')} <> %s"
            f" AND ({quote('role')} = %s OR ({quote('role')} = %s AND {quote('status')} IN ({statuses})))"
        )
        params = [conversation_id, "", Message.Role.USER.value, Message.Role.ASSISTANT.value]
        params += [status.value for status in HISTORY_STATUSES]
        if before_id is not None:
            sql += f" AND {quote('id')} < %s"
            params.append(before_id)
        sql += f" ORDER BY {quote('id')} DESC LIMIT %s"
        params.append(limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def as_json(self):
        """
        [message.as_json() for message in self], built from plain rows: without a model
        instance per message, a conversation of 2,000 messages opens in half the time.
        """
        return [_message_json(*row) for row in self.values_list(*_JSON_FIELDS)]


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system", _("System")
        USER = "user", _("User")
        ASSISTANT = "assistant", _("Assistant")

    class Status(models.TextChoices):
        STREAMING = "streaming", _("Streaming")
        COMPLETE = "complete", _("Complete")
        STOPPED = "stopped", _("Stopped")
        ERROR = "error", _("Error")
        INTERRUPTED = "interrupted", _("Interrupted")

    conversation = models.ForeignKey(
        Conversation,
        models.CASCADE,
        related_name="messages",
        verbose_name=_("conversation"),
        # Covered by the composite index below.
        db_index=False,
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    content = models.TextField(_("content"), blank=True)
    reasoning = models.TextField(_("reasoning"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.COMPLETE)
    model = models.CharField(_("model"), max_length=100, blank=True)
    finish_reason = models.CharField(_("finish reason"), max_length=32, blank=True)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(_("completion tokens"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    first_token_ms = models.PositiveIntegerField(_("time to first token (ms)"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Refreshed while an answer is generated, so an answer whose process died can be told
    # from one still in progress.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            # A conversation's messages in order.
            models.Index(fields=["conversation", "id"], name="message_conversation_order"),
            # Finding answers left streaming by a process that died.
            models.Index(fields=["status", "updated_at"], name="message_status_updated"),
        ]

    def __str__(self):
        return Truncator(self.content).chars(60) or f"{self.get_role_display()} #{self.pk}"

    @property
    def is_finished(self):
        return self.status != self.Status.STREAMING

    def as_json(self):
        return _message_json(*(getattr(self, name) for name in _JSON_FIELDS))


_JSON_FIELDS = (
    "pk",
    "role",
    "content",
    "reasoning",
    "status",
    "model",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "error",
    "first_token_ms",
    "duration_ms",
    "created_at",
)


def _message_json(
    pk,
    role,
    content,
    reasoning,
    status,
    model,
    finish_reason,
    prompt_tokens,
    completion_tokens,
    error,
    first_token_ms,
    duration_ms,
    created_at,
):
    """A message as the API shows it (docs/api.md)."""
    return {
        "id": pk,
        "role": role,
        "content": content,
        "reasoning": reasoning,
        "status": status,
        "model": model,
        "finish_reason": finish_reason,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        "error": error,
        "first_token_ms": first_token_ms,
        "duration_ms": duration_ms,
        "created_at": created_at.isoformat(),
    }


# Answers worth sending back upstream as history.
HISTORY_STATUSES = [Message.Status.COMPLETE, Message.Status.STOPPED]
