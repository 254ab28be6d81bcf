"""
Presets: named ways to start a chat (models.Preset). Staff make theirs in the admin; a person
saves their own from a conversation's settings, lists them with the staff's and deletes them.
A person's own are private to them: another's is not found.
"""

from django.conf import settings
from django.utils.translation import gettext as _

from chat import catalogue, conversations, limits
from chat.errors import Invalid, NotFound
from chat.models import Preset

NAME_MAX_LENGTH = 100
GREETING_MAX_LENGTH = 2000


def usable(user_id):
    """The presets the person may start a chat from: the staff's enabled ones, then their own."""
    return list(Preset.objects.usable_by(user_id))


def listed(user_id):
    return [preset.as_json(user_id) for preset in usable(user_id)]


def get_usable(user_id, preset_id):
    try:
        return Preset.objects.usable_by(user_id).get(pk=preset_id)
    except Preset.DoesNotExist:
        raise NotFound(_("No such preset."), field="preset") from None


def create(user_id, *, name, system_prompt="", model=None, temperature=None, greeting=""):
    """A preset of the person's own; every field is checked before anything is saved."""
    name = conversations.check_text(name, "name", max_length=NAME_MAX_LENGTH, required=True).strip()
    conversations.check_text(system_prompt, "system_prompt", max_length=settings.CHAT_MAX_SYSTEM_PROMPT_CHARS)
    conversations.check_text(greeting, "greeting", max_length=GREETING_MAX_LENGTH)
    model_id = ""
    if model:
        # Only a model the person may use now: a preset is a promise of how a chat starts.
        offer = conversations.check_model(model)
        limits.of(user_id).check_model(offer, catalogue.current())
        model_id = offer.id
    return Preset.objects.create(
        owner_id=user_id,
        name=name,
        system_prompt=system_prompt,
        model=model_id,
        temperature=conversations.check_temperature(temperature),
        greeting=greeting,
    )


def delete(user_id, preset_id):
    """Delete one of the person's own presets; the staff's and other people's are not found."""
    deleted, _rows = Preset.objects.for_user(user_id).filter(pk=preset_id).delete()
    if not deleted:
        raise NotFound(_("No such preset."))


def check_id(value):
    """A preset's id as the API took it: a whole number."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(_("'preset' must be the id of a preset."), field="preset")
    return value


def start_conversation(user_id, preset_id, **given):
    """
    A new conversation made from the preset: its system prompt, its temperature, and its model
    when the person may use it (offered, and in their allowance; else the person's default, as
    if the preset named none). The fields `given` in the same request win over the preset's.
    """
    preset = get_usable(user_id, check_id(preset_id))
    values = {"system_prompt": preset.system_prompt, "temperature": preset.temperature}
    offers = catalogue.current()
    if preset.model and (offer := offers.find(preset.model)) is not None and limits.of(user_id).allows(offer):
        values["model"] = offer.id
    return conversations.create(user_id, **{**values, **given})
