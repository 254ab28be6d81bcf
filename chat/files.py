"""
Attachments: the images and documents a person sends with a question (docs/api.md, "Files").

An upload is read whole and judged by its content, never by its name: images (PNG, JPEG, WebP,
GIF) are decoded and encoded again by Pillow, without their metadata (EXIF: the camera, the
place a photo was taken), turned the way the camera held them, and scaled so that their
longest side is at most CHAT_IMAGE_MAX_SIDE: no provider ever receives the bytes a person sent.
A GIF keeps its first frame, as a PNG (providers take still images; an animation's other
frames would be lost there anyway). Documents (UTF-8 text: plain, Markdown, CSV, JSON, source
code; PDF through pypdf; DOCX through python-docx) keep their file and their text, which is
what goes to the model. A file refused (too large, empty, of no known type, unreadable,
password-protected, over the person's storage quota) stores nothing.

Files are kept in Django's `default` storage (MEDIA_ROOT, or S3 and the like by
configuration) under random names, and served only to their owner (`open_for`). Sent with a
question (`attach`), a file goes upstream with it and with every later turn whose history
budget it fits (`parts`): images as base64 data: URLs, read from storage when the turn begins
(`with_image_data`), never a URL a provider would fetch.
"""

import base64
import io
import logging
import zipfile
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.errors import Invalid, NotFound, TooLarge
from chat.models import Attachment, Message

logger = logging.getLogger(__name__)

IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/png"}
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Text files by their extension: only the content type shown depends on it.
TEXT_TYPES = {".md": "text/markdown", ".markdown": "text/markdown", ".csv": "text/csv", ".json": "application/json"}
IMAGE_NAMES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
# Programs, whatever their name says.
EXECUTABLES = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
# An image this many pixels or more is refused before it is decoded: a small file can
# claim a huge canvas (a decompression bomb).
MAX_PIXELS = 60_000_000
# What an image is counted as against the history budget (in tokens; four characters each
# in the CHAT_HISTORY_CHARS budget): about what a provider charges for one.
IMAGE_TOKENS = 1000
# The least of a document that goes with its question, however full the history.
MIN_DOCUMENT_CHARS = 2000
UNSENT_FOR = timedelta(days=1)


@dataclass
class Prepared:
    """An upload read and judged, not stored yet."""

    name: str
    kind: str
    content_type: str
    data: bytes
    text: str = ""


def upload(user_id, uploaded):
    """Store `uploaded` (a Django UploadedFile) as the person's Attachment, or refuse it."""
    limit = settings.CHAT_MAX_UPLOAD_MB * 1024 * 1024
    name = _clean_name(uploaded.name)
    if uploaded.size > limit:
        raise TooLarge(
            _("%(name)s is larger than %(size)s MB.") % {"name": name, "size": settings.CHAT_MAX_UPLOAD_MB},
            field="file",
        )
    if not uploaded.size:
        raise Invalid(_("%(name)s is empty.") % {"name": name}, field="file")
    uploaded.seek(0)
    prepared = prepare(name, uploaded.read())
    return store(user_id, prepared)


@transaction.atomic
def store(user_id, prepared):
    """Save a prepared upload for the person, within their storage quota."""
    quota = settings.CHAT_STORAGE_QUOTA_MB * 1024 * 1024
    if quota:
        # The person's row locked until the file is saved: two uploads at once cannot both
        # pass the quota (SQLite's transaction holds the whole database anyway).
        list(get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk"))
        used = Attachment.objects.stored_by(user_id)
        if used + len(prepared.data) > quota:
            raise TooLarge(
                _(
                    "Your files take %(used)s MB of your %(quota)s MB of storage: delete conversations with "
                    "files to make room for this one."
                )
                % {"used": _megabytes(used), "quota": settings.CHAT_STORAGE_QUOTA_MB},
                field="file",
            )
    attachment = Attachment(
        owner_id=user_id,
        name=prepared.name,
        size=len(prepared.data),
        content_type=prepared.content_type,
        kind=prepared.kind,
        text=prepared.text,
    )
    # Saved to storage first: a row is never without its file. Should the row's save fail,
    # the file goes.
    attachment.file.save(prepared.name, ContentFile(prepared.data), save=False)
    try:
        attachment.save()
    except Exception:
        attachment.file.storage.delete(attachment.file.name)
        raise
    return attachment


def _megabytes(size):
    return f"{size / (1024 * 1024):.1f}"


def _clean_name(name):
    """The file's name as shown: without a path, control characters, or more than 255 characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return (name or _("file"))[-255:]


# --- Judging a file by its content ----------------------------------------------------------


def prepare(name, data):
    """The Prepared of a file's bytes; Invalid for a file refused."""
    if not data:
        raise Invalid(_("%(name)s is empty.") % {"name": name}, field="file")
    head = data[:1024]
    if head.startswith(EXECUTABLES):
        raise Invalid(_("%(name)s is a program, not an image or a document.") % {"name": name}, field="file")
    if _looks_like_image(head):
        return _image(name, data)
    if name.lower().endswith(IMAGE_NAMES):
        # Named as an image but not one: a file in disguise, or a broken one.
        raise Invalid(
            _("%(name)s is not a PNG, JPEG, WebP or GIF image, whatever its name says.") % {"name": name}, field="file"
        )
    if b"%PDF-" in head:
        return _pdf(name, data)
    if head.startswith(b"PK\x03\x04"):
        return _docx(name, data)
    return _text(name, data)


def _looks_like_image(head):
    return (
        head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith(b"\xff\xd8\xff")
        or head[:6] in (b"GIF87a", b"GIF89a")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


def _unreadable(name):
    message = _("%(name)s cannot be read: the file is damaged or not what it seems.")
    return Invalid(message % {"name": name}, field="file")


def _image(name, data):
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as image:
            source_format = image.format
            if source_format not in IMAGE_TYPES:
                raise _unreadable(name)
            if image.width * image.height >= MAX_PIXELS:
                raise Invalid(_("%(name)s has too many pixels.") % {"name": name}, field="file")
            image.seek(0)  # a GIF's first frame
            image.load()
            # Turned as the camera held it, before the EXIF that says so goes.
            image = ImageOps.exif_transpose(image)
            mode = image.mode
            if mode not in ("RGB", "RGBA", "L", "LA"):
                has_alpha = "A" in mode or "transparency" in image.info
                image = image.convert("RGBA" if has_alpha else "RGB")
            if source_format == "JPEG" and image.mode in ("RGBA", "LA"):
                image = image.convert("RGB")
            side = settings.CHAT_IMAGE_MAX_SIDE
            if max(image.size) > side:
                image.thumbnail((side, side), Image.Resampling.LANCZOS)
            # Only the pixels are kept: a new image, without the old one's info (EXIF, XMP,
            # ICC profile, comments, PNG text chunks).
            clean = Image.frombytes(image.mode, image.size, image.tobytes())
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError):
        # What Pillow raises for a truncated, corrupt or unknown image.
        raise _unreadable(name) from None
    output = io.BytesIO()
    target = "PNG" if source_format == "GIF" else source_format
    options = {"JPEG": {"quality": 88, "optimize": True}, "WEBP": {"quality": 88}, "PNG": {"optimize": True}}
    clean.save(output, target, **options[target])
    content_type = IMAGE_TYPES[source_format]
    if source_format == "GIF" and name.lower().endswith(".gif"):
        name = name[:-4] + ".png"
    return Prepared(name=name, kind=Attachment.Kind.IMAGE, content_type=content_type, data=output.getvalue())


def _pdf(name, data):
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise Invalid(
                _("%(name)s is protected by a password: remove the password and upload it again.") % {"name": name},
                field="file",
            )
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except Invalid:
        raise
    except Exception:
        # pypdf reads what a stranger wrote: any of its exceptions means a file it cannot read.
        logger.info("a PDF could not be read", exc_info=True)
        raise _unreadable(name) from None
    if not text:
        raise Invalid(
            _("%(name)s has no text to read (a scanned PDF?): send its pages as images instead.") % {"name": name},
            field="file",
        )
    return Prepared(name=name, kind=Attachment.Kind.DOCUMENT, content_type="application/pdf", data=data, text=text)


def _docx(name, data):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        is_docx = "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        raise _unreadable(name) from None
    if not is_docx:
        raise Invalid(_("%(name)s is a zip file, not a Word document (DOCX).") % {"name": name}, field="file")
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        lines = [paragraph.text for paragraph in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                lines.append(" | ".join(cell.text for cell in row.cells))
    except Exception:
        # python-docx reads what a stranger wrote: any of its exceptions means a file it cannot read.
        logger.info("a DOCX could not be read", exc_info=True)
        raise _unreadable(name) from None
    text = "\n".join(lines).strip()
    if not text:
        raise Invalid(_("%(name)s has no text.") % {"name": name}, field="file")
    return Prepared(name=name, kind=Attachment.Kind.DOCUMENT, content_type=DOCX_TYPE, data=data, text=text)


def _text(name, data):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    # Text has no NUL characters, and few other control characters than tabs and line ends.
    if text is None or "\x00" in text or sum(1 for c in text[:4096] if ord(c) < 32 and c not in "\t\n\r\f") > 8:
        raise Invalid(
            _(
                "%(name)s is not a file the chat reads: send images (PNG, JPEG, WebP, GIF), PDF, Word (DOCX), "
                "or text in UTF-8 (plain, Markdown, CSV, JSON, code)."
            )
            % {"name": name},
            field="file",
        )
    if not text.strip():
        raise Invalid(_("%(name)s has no text.") % {"name": name}, field="file")
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    content_type = TEXT_TYPES.get(extension, "text/plain")
    return Prepared(name=name, kind=Attachment.Kind.DOCUMENT, content_type=content_type, data=data, text=text)


# --- A person's files ------------------------------------------------------------------------


def get(user_id, file_id):
    """The person's file `file_id` (NotFound for anybody else's)."""
    try:
        return Attachment.objects.for_user(user_id).get(pk=file_id)
    except Attachment.DoesNotExist:
        raise NotFound from None


def delete(user_id, file_id):
    """Delete an upload not sent yet; a sent one goes with its message."""
    attachment = get(user_id, file_id)
    if attachment.message_id is not None:
        raise Invalid(_("This file was sent with a message: it goes when its conversation is deleted."))
    attachment.delete()


def purge_unsent(older_than=UNSENT_FOR):
    """Delete the uploads never sent with a message within `older_than`; returns how many."""
    old = Attachment.objects.unsent().filter(created_at__lt=timezone.now() - older_than)
    count = 0
    for attachment in old.iterator():
        attachment.delete()
        count += 1
    return count


@receiver(post_delete, sender=Attachment, dispatch_uid="chat.files.remove_stored")
def remove_stored(sender, instance, **kwargs):
    """
    A file leaves storage with its row, however the row goes (its conversation deleted, in
    bulk or not, its owner deleted, purge_uploads): once the deletion is committed, so that a
    deletion rolled back keeps its file.
    """
    storage, name = instance.file.storage, instance.file.name
    if name:
        transaction.on_commit(lambda: storage.delete(name))


# --- Sent with a question ---------------------------------------------------------------------


def check(user_id, ids, offer, offers):
    """
    The person's files `ids`, checked to go with a question to `offer`'s model (`offers`: the
    models the person may use): their own (NotFound otherwise), not sent yet, no more than
    CHAT_MAX_FILES_PER_MESSAGE, images only to a model that takes them.
    """
    if not isinstance(ids, list | tuple) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise Invalid(_("'attachments' must be a list of file ids."), field="attachments")
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    most = settings.CHAT_MAX_FILES_PER_MESSAGE
    if len(ids) > most:
        raise Invalid(_("A message takes at most %(count)s files.") % {"count": most}, field="attachments")
    found = {a.pk: a for a in Attachment.objects.for_user(user_id).filter(pk__in=ids)}
    if len(found) != len(ids):
        raise NotFound(_("No such file: it was deleted, or is not yours."), field="attachments")
    if any(a.message_id is not None for a in found.values()):
        raise Invalid(_("A file was already sent with another message: upload it again."), field="attachments")
    if not offer.vision and any(a.is_image for a in found.values()):
        message = _("The model %(model)s does not take images.") % {"model": offer.id}
        if takers := [o.id for o in offers if o.vision]:
            message += " " + _("Models that do: %(models)s.") % {"models": ", ".join(takers)}
        raise Invalid(message, field="attachments")
    return [found[i] for i in ids]


def give(question, attachments):
    """Make the files checked (`check`) the saved question's own; call it in its transaction."""
    if not attachments:
        return
    ids = [a.pk for a in attachments]
    # Only those still unsent: another request that sent one of them meanwhile wins.
    if Attachment.objects.filter(pk__in=ids, message__isnull=True).update(message=question) != len(ids):
        raise Invalid(_("A file was already sent with another message: upload it again."), field="attachments")
    if not question.conversation.has_files:
        question.conversation.has_files = True
        type(question.conversation).objects.filter(pk=question.conversation_id).update(has_files=True)


def of_messages(message_ids):
    """
    {message id: [attachment, ...]} of these questions, in the order they were uploaded. The
    files are sent with a question, and every version of it made since (an edit: see
    models.Message.versions_of) has them too: they belong to its place's first version.
    """
    message_ids = list(message_ids)
    first_of = dict(
        Message.objects.filter(pk__in=message_ids, versions_of__isnull=False).values_list("pk", "versions_of")
    )
    sent_with = {pk: first_of.get(pk, pk) for pk in message_ids}
    found = {}
    for attachment in Attachment.objects.filter(message_id__in=set(sent_with.values())).order_by("id"):
        found.setdefault(attachment.message_id, []).append(attachment)
    return {pk: found[first] for pk, first in sent_with.items() if first in found}


def _in_characters(size):
    """Whether a history budget measured with `size` counts characters (len), not tokens."""
    return size is len


def parts(text, attachments, *, vision, budget, size):
    """
    The content of a question with its files, as it goes upstream, and what it takes of the
    budget: `text`, then each document headed by its name (its text cut, with a note saying
    so, to what the budget leaves, though never to less than MIN_DOCUMENT_CHARS), then the
    images: parts that with_image_data fills in from storage (or, to a model that takes no
    images, a line naming each).
    """
    content = [{"type": "text", "text": text}] if text else []
    spent = size(text)
    images = []
    for attachment in attachments:
        if not attachment.is_image:
            body = attachment.text
            # In characters; a token is about four.
            room = max((budget - spent) * (1 if _in_characters(size) else 4), MIN_DOCUMENT_CHARS)
            if len(body) > room:
                body = (
                    body[:room]
                    + "\n\n"
                    + (
                        f"[The file is cut here: only the first {room} of its {len(attachment.text)} characters fit "
                        "the model's context.]"
                    )
                )
            piece = f"[File: {attachment.name}]\n{body}"
            content.append({"type": "text", "text": piece})
            spent += size(piece)
        elif vision:
            images.append({"type": "image_url", "image_url": {"url": ""}, "attachment": attachment.pk})
            spent += IMAGE_TOKENS * 4 if _in_characters(size) else IMAGE_TOKENS
        else:
            piece = f"[Image: {attachment.name}, not shown: this model takes no images]"
            content.append({"type": "text", "text": piece})
            spent += size(piece)
    return content + images, spent


def with_image_data(messages):
    """
    `messages` with every image part of `parts` filled in: the stored image as a base64 data:
    URL. Read when the turn begins, after its transaction: a slow storage (S3) holds no lock.
    """
    wanted = [
        part["attachment"]
        for message in messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if "attachment" in part
    ]
    if not wanted:
        return messages
    stored = {a.pk: a for a in Attachment.objects.filter(pk__in=wanted).only("file", "content_type", "name")}
    filled = []
    for message in messages:
        if not isinstance(message["content"], list):
            filled.append(message)
            continue
        content = []
        for part in message["content"]:
            if "attachment" not in part:
                content.append(part)
            elif (attachment := stored.get(part["attachment"])) is not None:
                content.append(_image_part(attachment))
        filled.append({**message, "content": content or ""})
    return filled


def _image_part(attachment):
    try:
        return {"type": "image_url", "image_url": {"url": data_url(attachment)}}
    except Exception:
        # The turn is saved already: a storage that fails (a file lost, S3 away) must not
        # leave its answer waiting for ever. The model is told, the operator logged.
        logger.warning("the image of attachment %s could not be read from storage", attachment.pk, exc_info=True)
        return {"type": "text", "text": f"[Image: {attachment.name}, could not be read]"}


def data_url(attachment):
    with attachment.file.open("rb") as stored:
        encoded = base64.b64encode(stored.read()).decode("ascii")
    return f"data:{attachment.content_type};base64,{encoded}"
