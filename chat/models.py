import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import connections, models
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _


def model_ids_of(text):
    """The model ids of a text of one id a line (an allowance's, a token's), blank lines left out."""
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def estimated_tokens(text):
    """
    A generous guess of the tokens `text` takes, without the model's tokenizer: about four
    ASCII characters a token, and a little more than a token for each Chinese character (three
    bytes in UTF-8).
    """
    return (len(text) + 2 * (len(text.encode("utf-8", "surrogatepass")) - len(text))) // 4 + 1


class ConversationQuerySet(models.QuerySet):
    def for_user(self, user_id):
        return self.filter(owner_id=user_id)

    def recent(self):
        """Pinned first, then the most recently active."""
        return self.order_by("-pinned", "-updated_at", "-id").select_related("api_token")


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="conversations", verbose_name=_("owner")
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    model = models.CharField(_("model"), max_length=100)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    # The person's choices for this conversation's answers; blank: the model's own default.
    temperature = models.FloatField(_("temperature"), null=True, blank=True)
    max_tokens = models.PositiveIntegerField(_("longest answer (tokens)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    # A conversation held through the OpenAI-compatible API (chat.openai_api): the token it came
    # through, and the digest of how it began (its system prompt and first question), by which
    # a client's next request, which sends the whole conversation again, finds it.
    api_token = models.ForeignKey(
        "ApiToken",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        verbose_name=_("API token"),
    )
    api_thread = models.CharField(_("API thread"), max_length=64, blank=True, editable=False)
    # Pinned lead the sidebar; archived leave it for its Archived view, until a message is
    # sent in them again.
    pinned = models.BooleanField(_("pinned"), default=False)
    archived = models.BooleanField(_("archived"), default=False)
    # Where an imported conversation came from (chat.imports): the same file imported again
    # adds nothing.
    import_key = models.CharField(_("import key"), max_length=100, blank=True, editable=False)
    # Files were sent in it (chat.files): only then does a turn look for them in its history.
    has_files = models.BooleanField(_("has files"), default=False, editable=False)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            # The sidebar: a user's conversations, most recently active first.
            # The sidebar, a page at a time: a person's conversations (or the archived ones),
            # pinned first, then the most recently active.
            models.Index(fields=["owner", "archived", "-pinned", "-updated_at", "-id"], name="conversation_sidebar"),
            # An API request's conversation: a token's, by how it began.
            models.Index(fields=["api_token", "api_thread"], name="conversation_api_thread"),
            models.Index(fields=["owner", "import_key"], name="conversation_import_key"),
        ]

    def __str__(self):
        return self.title or str(_("New chat"))

    def upstream_messages(self, *, before_id=None, question=None, tokens=0, attachments=(), vision=False):
        """
        The messages sent upstream for the next answer: the system prompt, then the most
        recent turns that fit the history budget (`tokens`, the model's, or else
        CHAT_HISTORY_CHARS characters), oldest first. Reasoning text and failed
        answers never go back upstream. `question` is a new question not saved yet, the newest
        message, with its `attachments`. A question's files go with it (chat.files.parts):
        documents as text, counted in the budget, images as parts filled in from storage
        (chat.files.with_image_data) when the model takes images (`vision`). Returns the
        messages, whether the conversation had none before, and whether its newest message is
        an answer still live (being generated, or abandoned by a process that died: see
        MessageQuerySet.mark_abandoned), which the same read tells.
        """
        from chat import files  # which imports these models

        # In tokens (as estimated) when the model's context window is known, else in characters.
        size = estimated_tokens if tokens else len
        budget = tokens - size(self.system_prompt) if tokens else settings.CHAT_HISTORY_CHARS
        picked = []
        limit = settings.CHAT_HISTORY_MESSAGES
        if question is not None:
            content, spent = files.parts(question, attachments, vision=vision, budget=budget, size=size)
            picked.append({"role": Message.Role.USER, "content": content if attachments else question})
            budget -= spent
            limit -= 1
        # At least one row, to tell whether there is any: every turn has a question, and
        # questions are never empty, so no rows means no earlier turn.
        # One row more than the history takes: a live answer, always the newest message, is
        # read with it (to tell it, at no extra query) but never goes upstream.
        read = list(Message.objects.history(self.pk, before_id=before_id, with_live=True)[: max(limit, 1) + 1])
        live = any(status in Message.LIVE_STATUSES for _id, _role, _content, status in read)
        rows = [(pk, role, content) for pk, role, content, status in read if status not in Message.LIVE_STATUSES]
        rows = rows[: max(limit, 0)]
        # The files of the questions that may go: one query, and only for a conversation
        # that has had files (Conversation.has_files).
        sent = files.of_messages([pk for pk, role, _c in rows if role == Message.Role.USER]) if self.has_files else {}
        for pk, role, content in rows:
            if pk in sent:
                content, spent = files.parts(content, sent[pk], vision=vision, budget=budget, size=size)
            else:
                spent = size(content)
            # The newest message always goes, whatever its length.
            if picked and spent > budget:
                break
            budget -= spent
            picked.append({"role": role, "content": content})
        picked.reverse()
        if self.system_prompt:
            picked.insert(0, {"role": Message.Role.SYSTEM, "content": self.system_prompt})
        return picked, not read, live

    def add_turn(self, content, *, title_from=None, versions_of=None):
        """
        Save the person's question and an empty answer to stream into, before any upstream
        call, so that nothing the person typed is lost whatever happens next. Call it in a
        transaction. A new conversation is named after `title_from` (default: the question).
        `versions_of`: the question is a new version of an earlier one (an edit).
        """
        now = timezone.now()
        question = Message(
            conversation=self, role=Message.Role.USER, content=content, created_at=now, versions_of=versions_of
        )
        answer = self.new_answer(now)
        if connections[Message.objects.db].features.can_return_rows_from_bulk_insert:
            # One INSERT for both (MySQL cannot return their ids from it; MariaDB can).
            Message.objects.bulk_create([question, answer])
        else:
            question.save()
            answer.save()
        if not self.title:
            self.title = Truncator(" ".join((content if title_from is None else title_from).split())).chars(60)
        self.updated_at = now
        self.archived = False  # a conversation taken up again is back in the sidebar
        Conversation.objects.filter(pk=self.pk).update(title=self.title, updated_at=now, archived=False)
        return question, answer

    def new_answer(self, now=None):
        """An empty answer of this conversation's model, not saved yet."""
        return Message(
            conversation=self,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            model=self.model,
            created_at=now or timezone.now(),
        )

    def touch(self):
        self.updated_at = timezone.now()
        self.save(update_fields=["updated_at"])

    def as_json(self):
        return {
            "id": self.pk,
            "title": self.title,
            "model": self.model,
            "system_prompt": self.system_prompt,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            # Held through the OpenAI-compatible API, with the token of that name.
            "api_token": self.api_token.name if self.api_token_id else None,
            "pinned": self.pinned,
            "archived": self.archived,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class MessageQuerySet(models.QuerySet):
    def for_user(self, user_id):
        return self.filter(conversation__owner_id=user_id)

    def shown(self):
        """The messages of the versions shown: a conversation as the person reads it."""
        return self.filter(hidden_in__isnull=True)

    def live(self):
        """Answers still being generated, or being stopped."""
        return self.filter(status__in=Message.LIVE_STATUSES)

    def abandoned(self):
        """
        Live answers whose generating process stopped refreshing them (it was killed): they
        will never finish.
        """
        silent_for = timedelta(seconds=settings.CHAT_ABANDONED_SECONDS)
        return self.live().filter(updated_at__lt=timezone.now() - silent_for)

    def mark_abandoned(self):
        """
        Mark the abandoned answers among these as ended: interrupted, or stopped when a stop
        had been asked for, with the usage they consumed estimated and added to their users'
        totals (chat.usage.charge_abandoned): the process that generated them died before it
        could. Returns how many there were. It looks before it writes, and writes each by its
        primary key: this runs whenever a page or a stream finds an answer live, and on
        MySQL/MariaDB an UPDATE that finds its rows by status locks them in the other order
        than the generating process's saves (see update_each), so the two could deadlock.
        Answers really abandoned are rare, and no process saves them any more.
        """
        from chat import usage  # which imports these models

        abandoned = list(self.abandoned().values_list("pk", "status")[:500])
        if not abandoned:
            return 0
        return usage.charge_abandoned(abandoned)

    def history(self, conversation_id, *, before_id=None, with_live=False):
        """
        (role, content) of the messages of a conversation that may go back upstream, newest
        first: questions (which are always complete), and answers that completed or were
        stopped, never empty ones. `with_live`: (id, role, content, status), with the live answers
        too (empty or not), which the caller leaves out of what goes upstream.
        """
        # A question may be empty when files went with it (chat.files): it goes all the same.
        said = ~models.Q(content="") | models.Q(role=Message.Role.USER)
        wanted = models.Q(status__in=Message.HISTORY_STATUSES) & said
        if with_live:
            wanted |= models.Q(status__in=Message.LIVE_STATUSES)
        rows = self.filter(wanted, conversation_id=conversation_id, hidden_in__isnull=True)
        if before_id is not None:
            rows = rows.filter(id__lt=before_id)
        if with_live:
            return rows.order_by("-id").values_list("id", "role", "content", "status")
        return rows.order_by("-id").values_list("role", "content")

    def update_each(self, fields, rows, *, status=None):
        """
        Update one message per row of `rows` (the values of `fields`, then the message's pk),
        all with one statement that the database driver runs for each row (executemany): the
        answers a process finishes or saves together cost one prepared UPDATE, not one ORM
        query each. With `status`, only the rows that still have that status change.
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

    def as_json(self):
        """
        [message.as_json() for message in self], built from plain rows: without a model
        instance per message, a conversation of 2,000 messages opens in half the time. Its
        feedback comes in the same query (a join on the feedback's unique message).
        """
        fields = (*Message.JSON_FIELDS, *Message.FEEDBACK_LOOKUPS, "conversation_id", "versions_of")
        rows = [dict(zip(fields, row, strict=True)) for row in self.values_list(*fields)]
        # The versions of the places that have several, in one more query, only then.
        if places := {row["versions_of"] for row in rows if row["versions_of"] is not None}:
            versions = {}
            found = Message.objects.filter(
                conversation_id__in={row["conversation_id"] for row in rows}, versions_of__in=places
            )
            for place, pk in found.order_by("id").values_list("versions_of", "id"):
                versions.setdefault(place, []).append(pk)
            for row in rows:
                row["versions"] = versions.get(row["versions_of"], [])
        return [Message.json_of(row) for row in rows]


class Message(models.Model):
    class Role(models.TextChoices):
        SYSTEM = "system", _("System")
        USER = "user", _("User")
        ASSISTANT = "assistant", _("Assistant")

    class Status(models.TextChoices):
        STREAMING = "streaming", _("Streaming")
        # A stop was asked for through another server process, which has yet to notice,
        # close the upstream request and save the last of the text.
        STOPPING = "stopping", _("Stopping")
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
    # The provider reported no usage (a stop, a fault, a provider that never does): the tokens
    # are estimated from the text sent and received (chat.usage).
    usage_estimated = models.BooleanField(_("usage estimated"), default=False)
    error = models.TextField(_("error"), blank=True)
    # The provider's own words about a fault: for staff (the admin), never shown to the person.
    error_detail = models.TextField(_("provider's message"), blank=True)
    first_token_ms = models.PositiveIntegerField(_("time to first token (ms)"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Refreshed while an answer is generated, so an answer whose process died can be told
    # from one still in progress.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Versions (chat.turns: regenerate, edit, show_version). Regenerating an answer or editing
    # a question keeps what it replaces, as an earlier version of that place in the
    # conversation: the answer, or the question and every message after it (its branch).
    # `versions_of`: on the first message of each version of a place, the id of the place's
    # first version (its versions are the messages with the same versions_of); `hidden_in`:
    # on each message of a version not shown, the id of that version's first message; NULL
    # on the messages shown, the conversation as it goes upstream.
    versions_of = models.BigIntegerField(_("version of"), null=True, blank=True, editable=False)
    hidden_in = models.BigIntegerField(_("hidden with version"), null=True, blank=True, editable=False)

    objects = MessageQuerySet.as_manager()

    # How an answer came out: what its generation writes, and what the API and the end of its
    # stream tell (docs/api.md).
    OUTCOME_FIELDS = (
        "content",
        "reasoning",
        "status",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "usage_estimated",
        "error",
        "error_detail",
        "first_token_ms",
        "duration_ms",
    )
    # What the API shows of a message: all of it but the provider's own words (for staff).
    JSON_FIELDS = ("id", "role", "model", "created_at", *(name for name in OUTCOME_FIELDS if name != "error_detail"))
    # The person's feedback on an answer, as MessageQuerySet.as_json reads it with the message.
    FEEDBACK_LOOKUPS = ("feedback__rating", "feedback__note")
    # Answers being generated: their text grows, and a stream of them follows it.
    LIVE_STATUSES = (Status.STREAMING, Status.STOPPING)
    # Answers worth sending back upstream as history.
    HISTORY_STATUSES = (Status.COMPLETE, Status.STOPPED)

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
    def is_live(self):
        return self.status in self.LIVE_STATUSES

    def outcome(self):
        return {name: getattr(self, name) for name in self.OUTCOME_FIELDS}

    def as_json(self):
        feedback = getattr(self, "feedback", None)
        return self.json_of(
            {
                **{name: getattr(self, name) for name in self.JSON_FIELDS},
                "feedback__rating": feedback.rating if feedback else None,
                "feedback__note": feedback.note if feedback else "",
            }
        )

    @staticmethod
    def json_of(values):
        """A message as the API shows it (docs/api.md), from the values of JSON_FIELDS."""
        return {
            "id": values["id"],
            "role": values["role"],
            "content": values["content"],
            "reasoning": values["reasoning"],
            "status": values["status"],
            "model": values["model"],
            "finish_reason": values["finish_reason"],
            "usage": {
                "prompt_tokens": values["prompt_tokens"],
                "completion_tokens": values["completion_tokens"],
                "estimated": values["usage_estimated"],
            },
            "error": values["error"],
            "first_token_ms": values["first_token_ms"],
            "duration_ms": values["duration_ms"],
            "created_at": values["created_at"].isoformat(),
            "feedback": (
                {"rating": values["feedback__rating"], "note": values["feedback__note"]}
                if values.get("feedback__rating")
                else None
            ),
            # The ids of its place's versions, in order (it is one of them), when it has several.
            "versions": values.get("versions") or [],
        }


def attachment_path(instance, filename):
    """
    Where an upload is stored: a random name, so that a storage served or listed by mistake
    gives nothing away (neither the person's file name nor a guessable sequence), with the
    extension of its type.
    """
    return f"files/{secrets.token_urlsafe(24)}{instance.extension}"


class AttachmentQuerySet(models.QuerySet):
    def for_user(self, user_id):
        return self.filter(owner_id=user_id)

    def unsent(self):
        return self.filter(message__isnull=True)

    def stored_by(self, user_id):
        """The bytes the person's files take in storage."""
        return self.for_user(user_id).aggregate(total=models.Sum("size"))["total"] or 0


class Attachment(models.Model):
    """
    A file a person uploaded (chat.files): an image, re-encoded without its metadata, or a
    document with its text extracted. It belongs to its uploader until it is sent with a
    question (`message`), and goes with that message (and its conversation); the stored file
    goes with the row (chat.files.remove_stored).
    """

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        DOCUMENT = "document", _("Document")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="attachments", verbose_name=_("owner")
    )
    message = models.ForeignKey(
        Message, models.CASCADE, null=True, blank=True, related_name="attachments", verbose_name=_("message")
    )
    name = models.CharField(_("name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    content_type = models.CharField(_("content type"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200)
    # A document's text, as it goes to the model; empty for an image.
    text = models.TextField(_("extracted text"), blank=True)
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    objects = AttachmentQuerySet.as_manager()

    EXTENSIONS = {
        "image/png": ".png",
        "image/jpeg": ".jpg",
        "image/webp": ".webp",
        "application/pdf": ".pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    }

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        indexes = [
            # A person's files: their storage used, their uploads never sent (purge_uploads).
            models.Index(fields=["owner", "message"], name="attachment_owner_message"),
            models.Index(fields=["created_at"], name="attachment_created"),
        ]

    def __str__(self):
        # Not its name, which may say what the person wrote about (the admin with
        # CHAT_ADMIN_SHOWS_CONTENT off names rows by their str()).
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def extension(self):
        return self.EXTENSIONS.get(self.content_type, ".txt")

    @property
    def is_image(self):
        return self.kind == self.Kind.IMAGE

    def as_json(self):
        return {
            "id": self.pk,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "kind": self.kind,
            "url": f"/api/files/{self.pk}/",
        }


class Feedback(models.Model):
    """
    A person's thumbs up or down on an answer of theirs, with an optional note: one per
    answer (only its conversation's owner rates it), replaced when they change it. For the
    operator, in the admin, to see which models disappoint.
    """

    class Rating(models.TextChoices):
        UP = "up", _("Good answer")
        DOWN = "down", _("Bad answer")

    message = models.OneToOneField(Message, models.CASCADE, related_name="feedback", verbose_name=_("answer"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="feedback", verbose_name=_("user"))
    rating = models.CharField(_("rating"), max_length=8, choices=Rating.choices)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    NOTE_MAX_LENGTH = 1000

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        indexes = [
            # The admin's list: the latest first, by rating.
            models.Index(fields=["rating", "-updated_at"], name="feedback_rating_recent"),
        ]

    def __str__(self):
        return f"{self.get_rating_display()} #{self.message_id}"

    def as_json(self):
        return {"rating": self.rating, "note": self.note, "updated_at": self.updated_at.isoformat()}


class Provider(models.Model):
    """
    An OpenAI-compatible API the models are served by, with its key. Those defined in the
    environment (OPENAI_*, PROVIDERS) are kept in step with it by chat.catalogue; their key
    stays in the environment, never in the database.
    """

    name = models.CharField(
        _("name"),
        max_length=40,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                _("Letters, digits, '-', '_' and '.' only: the name is part of model ids (name/model)."),
            )
        ],
        help_text=_("Short, as in model ids: deepseek, qwen, ollama."),
    )
    # A CharField checked as a URL: the admin's form field says how a URL without a scheme is read.
    base_url = models.CharField(
        _("base URL"),
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("The OpenAI-compatible endpoint, e.g. https://api.deepseek.com/v1."),
    )
    # Fernet-encrypted (chat.encryption): never shown back, never in a page or a log.
    encrypted_api_key = models.TextField(_("API key (encrypted)"), blank=True, editable=False)
    extra_headers = models.JSONField(
        _("extra headers"), default=dict, blank=True, help_text=_('Sent with every request, e.g. {"X-Title": "Chat"}.')
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    sort_order = models.IntegerField(_("sort order"), default=0)
    from_environment = models.BooleanField(_("from the environment"), default=False, editable=False)
    # The last check of the provider (the admin's Test action, manage.py doctor).
    checked_at = models.DateTimeField(_("last checked"), null=True, blank=True, editable=False)
    check_ok = models.BooleanField(_("last check passed"), null=True, editable=False)
    check_message = models.TextField(_("last check"), blank=True, editable=False)

    class Meta:
        verbose_name = _("provider")
        verbose_name_plural = _("providers")
        ordering = ["-from_environment", "sort_order", "name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.base_url = normalise_base_url(self.base_url)
        super().save(*args, **kwargs)

    def clean(self):
        self.base_url = normalise_base_url(self.base_url)
        headers = self.extra_headers
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValidationError(
                {"extra_headers": _('A JSON object of names and text values, like {"X-Title": "Chat"}.')}
            )

    @property
    def api_key(self):
        """The key in clear text ("" when unset, or when no encryption key in use made it)."""
        from chat import encryption, redaction

        try:
            key = encryption.decrypt(self.encrypted_api_key)
        except encryption.InvalidToken:
            return ""
        # A key this process has read is one it may hear back (an error quoting it): every
        # text it writes is redacted of it from now on.
        redaction.remember([key])
        return key

    @api_key.setter
    def api_key(self, value):
        from chat import encryption, redaction

        redaction.remember([value])
        self.encrypted_api_key = encryption.encrypt(value or "")

    @property
    def has_api_key(self):
        return bool(self.encrypted_api_key)

    def record_check(self, ok, message):
        self.checked_at, self.check_ok, self.check_message = timezone.now(), ok, message
        Provider.objects.filter(pk=self.pk).update(checked_at=self.checked_at, check_ok=ok, check_message=message)


class ProviderModel(models.Model):
    """A model a provider serves, as the operator offers it (or not) to people."""

    provider = models.ForeignKey(Provider, models.CASCADE, related_name="models", verbose_name=_("provider"))
    name = models.CharField(_("model id"), max_length=200, help_text=_("The id the provider knows it by."))
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    sort_order = models.IntegerField(_("sort order"), default=0)
    vision = models.BooleanField(_("accepts images"), default=False)
    reasoning = models.BooleanField(_("reasoning model"), default=False)
    max_output_tokens = models.PositiveIntegerField(
        _("most output tokens"), default=0, help_text=_("0: CHAT_MAX_TOKENS, or the provider's own limit.")
    )
    context_window = models.PositiveIntegerField(
        _("context window (tokens)"),
        default=0,
        help_text=_("Sizes the history sent with each message. 0: CHAT_HISTORY_CHARS characters."),
    )
    extra_params = models.JSONField(
        _("extra request parameters"),
        default=dict,
        blank=True,
        help_text=_('Added to every request, e.g. {"temperature": 0.3} or {"enable_thinking": true}.'),
    )
    input_price = models.DecimalField(
        _("input price per million tokens"), max_digits=12, decimal_places=4, null=True, blank=True
    )
    output_price = models.DecimalField(
        _("output price per million tokens"), max_digits=12, decimal_places=4, null=True, blank=True
    )
    from_environment = models.BooleanField(_("from the environment"), default=False, editable=False)

    class Meta:
        verbose_name = _("model")
        verbose_name_plural = _("models")
        ordering = ["provider", "sort_order", "name"]
        constraints = [models.UniqueConstraint(fields=["provider", "name"], name="provider_model_unique")]

    def __str__(self):
        return self.display_name or self.name

    def clean(self):
        for field in ("extra_params",):
            if not isinstance(getattr(self, field), dict):
                raise ValidationError({field: _("A JSON object, like {}.")})
        reserved = RESERVED_PARAMS.intersection(self.extra_params or {})
        if reserved:
            raise ValidationError(
                {"extra_params": _("Set by the chat itself: %(names)s.") % {"names": ", ".join(sorted(reserved))}}
            )


def normalise_base_url(url):
    """
    The base URL requests go to, from the one an operator pasted: without the trailing `/`,
    with `/v1` when only a host was given (https://api.deepseek.com), and without the
    `/chat/completions` that some providers' documents show at its end.
    """
    url = (url or "").strip().rstrip("/")
    for suffix in ("/chat/completions", "/models"):
        if url.endswith(suffix):
            url = url[: -len(suffix)].rstrip("/")
    scheme, sep, rest = url.partition("://")
    if sep and rest and "/" not in rest:
        url += "/v1"
    return url


# The request body's fields the chat sets; a model's extra parameters cannot replace them.
RESERVED_PARAMS = frozenset({"model", "messages", "stream", "stream_options"})


class Allowance(models.Model):
    """
    A user's or a group's limits, in place of the settings' (CHAT_RATE_LIMIT,
    CHAT_MAX_STREAMS_PER_USER, CHAT_DAILY_TOKEN_QUOTA, CHAT_MONTHLY_TOKEN_QUOTA); a limit left
    blank is the settings'. A user in several groups gets the most generous of each limit; the
    user's own allowance goes before the groups' (chat.limits).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="allowance",
        verbose_name=_("user"),
    )
    group = models.OneToOneField(
        Group, models.CASCADE, null=True, blank=True, related_name="allowance", verbose_name=_("group")
    )
    messages_per_minute = models.PositiveIntegerField(
        _("messages per minute"), null=True, blank=True, help_text=_("0: no limit. Blank: CHAT_RATE_LIMIT.")
    )
    max_streams = models.PositiveIntegerField(
        _("answers at once"), null=True, blank=True, help_text=_("0: no limit. Blank: CHAT_MAX_STREAMS_PER_USER.")
    )
    daily_tokens = models.PositiveBigIntegerField(
        _("tokens per day"), null=True, blank=True, help_text=_("0: no limit. Blank: CHAT_DAILY_TOKEN_QUOTA.")
    )
    monthly_tokens = models.PositiveBigIntegerField(
        _("tokens per month"), null=True, blank=True, help_text=_("0: no limit. Blank: CHAT_MONTHLY_TOKEN_QUOTA.")
    )
    allowed_models = models.TextField(
        _("models allowed"),
        blank=True,
        help_text=_("Model ids, one per line. Blank: every enabled model."),
    )

    class Meta:
        verbose_name = _("allowance")
        verbose_name_plural = _("allowances")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="allowance_user_or_group",
            )
        ]

    def __str__(self):
        return str(self.user or self.group)

    @property
    def model_ids(self):
        return model_ids_of(self.allowed_models)


class UsageQuerySet(models.QuerySet):
    def spent(self, user_id, first_day, today):
        """
        (tokens since `first_day`, tokens of `today`) of the user `user_id`: what the quotas
        read as a turn begins. One statement written once, not an ORM query: building the
        query cost a turn more CPU (0.57 ms) than the relay spends on 20 tokens; run as
        plain SQL, 0.05 ms.
        """
        connection = connections[self.db]
        quote = connection.ops.quote_name
        column = {name: quote(Usage._meta.get_field(name).column) for name in ("user", "day")}
        tokens = f"{quote('prompt_tokens')} + {quote('completion_tokens')}"
        today_only = f"CASE WHEN {column['day']} = %s THEN {tokens} ELSE 0 END"
        sql = (
            f"SELECT COALESCE(SUM({tokens}), 0), COALESCE(SUM({today_only}), 0)"
            f" FROM {quote(Usage._meta.db_table)} WHERE {column['user']} = %s AND {column['day']} >= %s"
        )
        adapt = connection.ops.adapt_datefield_value
        with connection.cursor() as cursor:
            cursor.execute(sql, [adapt(today), user_id, adapt(first_day)])
            month, day = cursor.fetchone()
        return int(month), int(day)

    def add_each(self, rows):
        """
        Add to existing rows, by pk: `rows` are (pk, requests, prompt_tokens,
        completion_tokens, estimated_tokens, cost), each added to that row's totals. One
        statement written once and run for each row (executemany), as Message's update_each:
        the answers a process finishes together are charged in one go, where an ORM UPDATE of
        five F() sums cost 0.6 ms of building for each user (docs/benchmarks.md).
        """
        if not rows:
            return
        connection = connections[self.db]
        quote = connection.ops.quote_name
        fields = [Usage._meta.get_field(name) for name in Usage.SUMS]
        assignments = ", ".join(f"{quote(field.column)} = {quote(field.column)} + %s" for field in fields)
        sql = f"UPDATE {quote(Usage._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"
        params = [
            [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)] + [pk]
            for pk, *values in rows
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


class Usage(models.Model):
    """
    A user's running totals for a day (in the server's time zone, TIME_ZONE) and a model: what
    the quotas read, and what the usage report adds up. Written in the same transaction as the
    answers they count (chat.usage.record), so they always equal the sum of those answers'
    usage; deleting a conversation gives nothing back.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="usage", verbose_name=_("user"))
    day = models.DateField(_("day"))
    model = models.CharField(_("model"), max_length=100)
    provider = models.CharField(_("provider"), max_length=40, blank=True)
    # The API token the requests came through; none for the chat page.
    token = models.ForeignKey(
        "ApiToken", models.SET_NULL, null=True, blank=True, related_name="usage", verbose_name=_("API token")
    )
    requests = models.PositiveIntegerField(_("requests"), default=0)
    prompt_tokens = models.PositiveBigIntegerField(_("prompt tokens"), default=0)
    completion_tokens = models.PositiveBigIntegerField(_("completion tokens"), default=0)
    # Of those, the tokens of answers whose usage the provider did not report.
    estimated_tokens = models.PositiveBigIntegerField(_("estimated tokens"), default=0)
    # At the model's prices when the answers ended (CHAT_CURRENCY); 0 when it has none.
    cost = models.DecimalField(_("cost"), max_digits=16, decimal_places=6, default=0)

    objects = UsageQuerySet.as_manager()

    # The running totals an answer adds to, in the order of UsageQuerySet.add_each's values.
    SUMS = ("requests", "prompt_tokens", "completion_tokens", "estimated_tokens", "cost")

    class Meta:
        verbose_name = _("usage")
        verbose_name_plural = _("usage")
        constraints = [
            # Also the index of the quotas' sums: a user's rows of today, of this month.
            models.UniqueConstraint(fields=["user", "day", "model", "token"], name="usage_user_day_model_token"),
        ]
        indexes = [
            # The report: every user's usage over a range of days.
            models.Index(fields=["day"], name="usage_day"),
        ]

    def __str__(self):
        return f"{self.user} {self.day} {self.model}"

    @property
    def tokens(self):
        return self.prompt_tokens + self.completion_tokens


class ActivityQuerySet(models.QuerySet):
    """
    The two statements of the limits' check, by primary key, written once: as ORM queries
    they cost a turn 0.4 ms each to build, as plain SQL 0.05 ms.
    """

    def read(self, user_id):
        """(live, starts) of the user's row, None when they have none; locked until the
        transaction ends where the database can lock a row (SQLite's transaction holds the
        whole database)."""
        connection = connections[self.db]
        quote = connection.ops.quote_name
        sql = (
            f"SELECT {quote('live')}, {quote('starts')} FROM {quote(Activity._meta.db_table)}"
            f" WHERE {quote(Activity._meta.pk.column)} = %s"
        )
        if connection.features.has_select_for_update:
            sql += " FOR UPDATE"
        with connection.cursor() as cursor:
            cursor.execute(sql, [user_id])
            return cursor.fetchone()

    def write(self, user_id, live, starts):
        connection = connections[self.db]
        quote = connection.ops.quote_name
        sql = (
            f"UPDATE {quote(Activity._meta.db_table)} SET {quote('live')} = %s, {quote('starts')} = %s"
            f" WHERE {quote(Activity._meta.pk.column)} = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [live, starts, user_id])


class Activity(models.Model):
    """
    What a person has begun lately, as the limits of answers at once and of messages a minute
    read it (chat.limits.admit): one row by primary key, however long their history. `live`:
    the ids of the answers begun that may still be generating (an ended one is dropped when
    the list is next checked against the answers); `starts`: when each of the last minute's
    answers began (seconds since the epoch). Both space-separated, written only there.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, primary_key=True, related_name="+", verbose_name=_("user")
    )
    live = models.TextField(_("answers that may be generating"), blank=True, default="")
    starts = models.TextField(_("answers begun in the last minute"), blank=True, default="")

    objects = ActivityQuerySet.as_manager()

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activity")

    def __str__(self):
        return str(self.user)


class ShareQuerySet(models.QuerySet):
    def for_user(self, user_id):
        return self.filter(conversation__owner_id=user_id)


class Share(models.Model):
    """
    A conversation shared as a read-only public page at /s/<key>/: a snapshot of its title
    and of its messages up to `last_message` as of sharing (shared again, the snapshot moves
    on; deleted, the page is gone at once).
    """

    conversation = models.OneToOneField(
        Conversation, models.CASCADE, related_name="share", verbose_name=_("conversation")
    )
    # 192 random bits (32 characters): the page's address is its only key.
    key = models.CharField(_("key"), max_length=32, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=200, blank=True)
    last_message_id = models.BigIntegerField(_("last message shared"), default=0)
    # The owner's username on the page, only when they choose it.
    shows_author = models.BooleanField(_("shows the author"), default=False)
    created_at = models.DateTimeField(_("shared"), default=timezone.now)

    objects = ShareQuerySet.as_manager()

    class Meta:
        verbose_name = _("shared link")
        verbose_name_plural = _("shared links")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.key[:6]}… ({self.conversation_id})"

    def messages(self):
        """The messages shared: those of the snapshot that ended, questions and answers."""
        return (
            self.conversation.messages.shown()
            .filter(pk__lte=self.last_message_id)
            .exclude(status__in=Message.LIVE_STATUSES)
            .order_by("id")
        )

    def as_json(self, url):
        return {
            "url": url,
            "title": self.title,
            "shows_author": self.shows_author,
            "created_at": self.created_at.isoformat(),
            "conversation_id": self.conversation_id,
        }


class PresetQuerySet(models.QuerySet):
    def for_user(self, user_id):
        """A person's own presets."""
        return self.filter(owner_id=user_id)

    def usable_by(self, user_id):
        """The presets a person may start a chat from: staff's enabled ones, then their own."""
        return self.filter(models.Q(owner__isnull=True, enabled=True) | models.Q(owner_id=user_id)).order_by(
            models.F("owner").asc(nulls_first=True), "sort_order", "name", "id"
        )


class Preset(models.Model):
    """
    A named way to start a chat: a system prompt, a model (blank: the person's default) and a
    temperature, taken by the new conversation; and a greeting, shown at the top of a new chat
    made from it but never saved in the conversation nor sent upstream. Staff's (no owner) are
    made in the admin and offered to everyone while enabled; a person's own (saved from a
    conversation's settings) are theirs alone.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.CASCADE,
        null=True,
        blank=True,
        related_name="presets",
        verbose_name=_("owner"),
        help_text=_("Blank: a preset of the staff, offered to everyone."),
    )
    name = models.CharField(_("name"), max_length=100)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    model = models.CharField(
        _("model"), max_length=100, blank=True, help_text=_("A model id. Blank: the person's default model.")
    )
    greeting = models.TextField(
        _("greeting"),
        blank=True,
        help_text=_("Shown at the top of a new chat made from this preset; not sent to the model."),
    )
    temperature = models.FloatField(
        _("temperature"), null=True, blank=True, help_text=_("0 to 2. Blank: the model's default.")
    )
    sort_order = models.IntegerField(_("sort order"), default=0)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    objects = PresetQuerySet.as_manager()

    class Meta:
        verbose_name = _("preset")
        verbose_name_plural = _("presets")
        indexes = [
            # GET /api/presets/ and the page: staff's presets and a person's own, in order.
            models.Index(fields=["owner", "sort_order", "name"], name="preset_owner_order"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(temperature__isnull=True) | models.Q(temperature__gte=0, temperature__lte=2),
                name="preset_temperature_range",
            )
        ]

    def __str__(self):
        return self.name

    def as_json(self, user_id):
        return {
            "id": self.pk,
            "name": self.name,
            "system_prompt": self.system_prompt,
            "model": self.model,
            "greeting": self.greeting,
            "temperature": self.temperature,
            "mine": self.owner_id is not None and self.owner_id == user_id,
        }


class StaffRead(models.Model):
    """
    A staff member opened another person's conversation or message in the admin: who, whose,
    which and when. Kept when any of them is deleted.
    """

    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+", verbose_name=_("staff member")
    )
    staff_username = models.CharField(_("staff member's username"), max_length=150)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+", verbose_name=_("owner")
    )
    owner_username = models.CharField(_("owner's username"), max_length=150)
    conversation = models.ForeignKey(
        Conversation, models.SET_NULL, null=True, related_name="+", verbose_name=_("conversation")
    )
    message = models.ForeignKey(Message, models.SET_NULL, null=True, related_name="+", verbose_name=_("message"))
    # The ids, kept once the conversation or the message is gone.
    conversation_number = models.PositiveBigIntegerField(_("conversation id"))
    message_number = models.PositiveBigIntegerField(_("message id"), null=True)
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("staff read")
        verbose_name_plural = _("staff reads")
        ordering = ["-at"]

    def __str__(self):
        return f"{self.staff_username} → {self.owner_username} #{self.conversation_number}"


class ApiTokenQuerySet(models.QuerySet):
    def for_user(self, user_id):
        return self.filter(user_id=user_id)

    def usable(self):
        """Neither revoked nor expired, of an active user."""
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now())
        )


class ApiToken(models.Model):
    """
    A person's key to the OpenAI-compatible API (chat.tokens): only its digest is stored, and
    its first characters to recognise it by; the token itself is shown once, at creation.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("starts with"), max_length=16, editable=False)
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    allowed_models = models.TextField(
        _("models allowed"), blank=True, help_text=_("Model ids, one per line. Blank: the user's models.")
    )
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def model_ids(self):
        return model_ids_of(self.allowed_models)

    @property
    def is_usable(self):
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    def as_json(self):
        return {
            "id": self.pk,
            "name": self.name,
            "prefix": self.prefix,
            "models": sorted(self.model_ids),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked": self.revoked_at is not None,
        }


class ProfileManager(models.Manager):
    def of(self, user_id):
        """The person's profile; an unsaved one with the defaults until they first save theirs."""
        return self.filter(user_id=user_id).first() or self.model(user_id=user_id)


class Profile(models.Model):
    """
    A person's own settings (chat.profiles), beside Django's User, whose first_name is their
    display name. Made when they first save their settings: until then the defaults hold.
    """

    class Theme(models.TextChoices):
        # The words of the theme toggle (static/chat/page.js): "system" follows the device.
        SYSTEM = "system", _("As the device")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="profile", verbose_name=_("user")
    )
    # A code of settings.LANGUAGES, applied at login; blank: the browser's language.
    language = models.CharField(_("language"), max_length=16, blank=True)
    theme = models.CharField(_("theme"), max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    # A model id of the catalogue; blank, or no longer one the person may use: the site's default.
    default_model = models.CharField(_("default model"), max_length=100, blank=True)
    custom_instructions = models.TextField(
        _("custom instructions"), blank=True, help_text=_("The system prompt new conversations start with.")
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # When a password reset link was last mailed to them (chat.accounts.RESET_MAIL_INTERVAL).
    password_reset_sent_at = models.DateTimeField(_("reset link last mailed"), null=True, blank=True, editable=False)

    objects = ProfileManager()

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self):
        return str(self.user)

    def default_offer(self, offers, person):
        """The model of the person's new conversations: theirs while they may use it, else the site's."""
        offer = offers.find(self.default_model) if self.default_model else None
        if offer is not None and person.allows(offer):
            return offer
        return person.default(offers)
