"""
The models offered to people, and the provider each one's requests go to.

It is built from the providers and models in the database, which the operator edits in the
admin, after bringing those the environment defines (OPENAI_*, PROVIDERS) in step with it: the
environment wins at every start. Each process keeps it in memory, as the hot path reads it at
every turn: it is built again when a provider or model is saved here, and otherwise every
RELOAD_SECONDS, to see what another process changed.

A model's id (in the API, the page, a conversation) is the name its provider knows it by; when
two providers offer the same name, the id is `<provider>/<name>` for each. `<provider>/<name>`
is always understood, and so is a bare name that has since become ambiguous (it is the first
provider's): a conversation keeps working when a second provider adds its model.
"""

import logging
import re
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.core.signals import setting_changed
from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save

from chat import redaction, upstream
from chat.models import Provider, ProviderModel, normalise_base_url

logger = logging.getLogger(__name__)

RELOAD_SECONDS = 5.0
DEMO = upstream.DEMO_MODEL
OPENAI_URL = "https://api.openai.com/v1"
# The settings a catalogue is built from: a test (or override_settings) that changes one
# gets a new catalogue.
SETTINGS = {
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_PROVIDER_NAME",
    "OPENAI_MODELS",
    "OPENAI_DEFAULT_MODEL",
    "OPENAI_VISION_MODELS",
    "OPENAI_REASONING_MODELS",
    "PROVIDERS",
    "ENCRYPTION_KEY",
    "ENCRYPTION_KEY_FALLBACKS",
    "SECRET_KEY",
}


@dataclass(frozen=True)
class Offer:
    """A model as offered to people: what the picker lists and what a turn sends upstream."""

    id: str
    # The id the provider knows it by, sent upstream.
    name: str
    label: str
    provider: str
    # None for the demo model, which this very process serves (endpoint_for).
    endpoint: upstream.Endpoint = None
    vision: bool = False
    reasoning: bool = False
    max_output_tokens: int = 0
    context_window: int = 0
    # The model's extra request parameters, as (name, value) pairs.
    params: tuple = ()
    input_price: Decimal = None
    output_price: Decimal = None

    @property
    def is_demo(self):
        return self.endpoint is None

    def endpoint_for(self, server=None):
        """Where this model's requests go; `server` is the (host, port) a request came in on."""
        return upstream.demo_endpoint(server) if self.endpoint is None else self.endpoint

    @property
    def output_limit(self):
        return self.max_output_tokens or settings.CHAT_MAX_TOKENS

    def as_json(self):
        return {
            "id": self.id,
            "label": self.label,
            "provider": self.provider,
            "vision": self.vision,
            "reasoning": self.reasoning,
            # The longest answer it gives (null: the provider's own limit), and its prices per
            # million tokens (CHAT_CURRENCY; null: none set), by which the page tells what an
            # answer cost.
            "max_output_tokens": self.output_limit or None,
            "input_price": None if self.input_price is None else str(self.input_price),
            "output_price": None if self.output_price is None else str(self.output_price),
        }


DEMO_OFFER = Offer(id=DEMO, name=DEMO, label=DEMO, provider=DEMO)


class Catalogue:
    def __init__(self, offers, default_id, *, keys=()):
        self.offers = list(offers)
        self.keys = tuple(keys)
        self._by_id = {offer.id: offer for offer in self.offers}
        self._aliases = {}
        for offer in self.offers:
            self._aliases.setdefault(f"{offer.provider}/{offer.name}", offer)
        for offer in self.offers:
            self._aliases.setdefault(offer.name, offer)
        self.default = self.find(default_id) or self.offers[0]

    def find(self, model_id):
        """The offer `model_id` names, or None: not offered (any more)."""
        if not isinstance(model_id, str):
            return None
        return self._by_id.get(model_id) or self._aliases.get(model_id)

    @property
    def ids(self):
        return [offer.id for offer in self.offers]

    def as_json(self):
        return {"default": self.default.id, "results": [offer.as_json() for offer in self.offers]}


# --- From the environment -------------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentProvider:
    name: str
    base_url: str
    api_key: str
    models: tuple
    vision_models: frozenset = frozenset()
    reasoning_models: frozenset = frozenset()
    headers: tuple = ()
    # Of its settings' names: OPENAI for the first, DEEPSEEK for PROVIDERS=deepseek.
    prefix: str = "OPENAI"


def name_for(base_url):
    """A provider's name from its URL: openai, deepseek (api.deepseek.com), local (127.0.0.1)..."""
    host = (urlsplit(base_url).hostname or "").lower()
    if not host or host.endswith("openai.com"):
        return "openai"
    if host in ("localhost", "::1") or re.fullmatch(r"[0-9.]+|[0-9a-f:]+", host):
        return "local"
    labels = [label for label in host.split(".")[:-1] if label not in ("api", "www", "open")] or [host]
    return re.sub(r"[^a-z0-9_-]", "-", labels[0])[:40]


def environment_providers():
    """The providers the environment defines, first OPENAI_*'s, then those of PROVIDERS."""
    found = []
    first_models = tuple(model for model in settings.OPENAI_MODELS if model != DEMO)
    if settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL or first_models:
        base_url = normalise_base_url(settings.OPENAI_BASE_URL or OPENAI_URL)
        found.append(
            EnvironmentProvider(
                name=settings.OPENAI_PROVIDER_NAME or name_for(base_url),
                base_url=base_url,
                api_key=settings.OPENAI_API_KEY,
                models=first_models,
                vision_models=frozenset(settings.OPENAI_VISION_MODELS),
                reasoning_models=frozenset(settings.OPENAI_REASONING_MODELS),
            )
        )
    for spec in settings.PROVIDERS:
        found.append(
            EnvironmentProvider(
                name=spec["name"],
                base_url=normalise_base_url(spec["base_url"] or OPENAI_URL),
                api_key=spec["api_key"],
                models=tuple(spec["models"]),
                vision_models=frozenset(spec.get("vision_models", ())),
                reasoning_models=frozenset(spec.get("reasoning_models", ())),
                headers=tuple(sorted(spec.get("headers", {}).items())),
                prefix=re.sub(r"[^A-Z0-9]", "_", spec["name"].upper()),
            )
        )
    return found


def environment_keys():
    return [spec.api_key for spec in environment_providers() if spec.api_key]


def _update(row, **values):
    """Set `values` on `row`, saving (without signals) only those that changed."""
    changed = {name: value for name, value in values.items() if getattr(row, name) != value}
    if changed:
        type(row).objects.filter(pk=row.pk).update(**changed)
        for name, value in changed.items():
            setattr(row, name, value)


@transaction.atomic
def sync_environment(specs):
    """
    Bring the environment's providers and their models into the database, as the admin shows
    and edits them: the environment's URL, model list and capabilities win; what it does not
    say (prices, display names, context windows...) is the admin's. Providers and models the
    environment no longer names stay, disabled, for the operator to keep or delete. Writes
    only what differs.
    """
    rows = {row.name: row for row in Provider.objects.all()}
    for order, spec in enumerate(specs):
        values = {
            "base_url": spec.base_url,
            "extra_headers": dict(spec.headers),
            "enabled": True,
            "from_environment": True,
            "sort_order": order,
            "encrypted_api_key": "",
        }
        row = rows.get(spec.name)
        if row is None:
            try:
                # Another process may be doing the same at the same moment.
                with transaction.atomic():
                    row = Provider.objects.create(name=spec.name, **values)
            except IntegrityError:
                row = Provider.objects.get(name=spec.name)
        _update(row, **values)
        models = {model.name: model for model in row.models.all()}
        for position, name in enumerate(spec.models):
            values = {
                "enabled": True,
                "from_environment": True,
                "sort_order": position,
                "vision": name in spec.vision_models,
                "reasoning": name in spec.reasoning_models,
            }
            if (model := models.get(name)) is None:
                try:
                    with transaction.atomic():
                        model = ProviderModel.objects.create(provider=row, name=name, **values)
                except IntegrityError:
                    model = ProviderModel.objects.get(provider=row, name=name)
            _update(model, **values)
        for name, model in models.items():
            if model.from_environment and name not in spec.models:
                _update(model, from_environment=False, enabled=False)
    named = {spec.name for spec in specs}
    for name, row in rows.items():
        if row.from_environment and name not in named:
            _update(row, from_environment=False, enabled=False)


# --- Building it ----------------------------------------------------------------------------


def build():
    specs = environment_providers()
    sync_environment(specs)
    env_keys = {spec.name: spec.api_key for spec in specs}
    rows = list(
        ProviderModel.objects.filter(enabled=True, provider__enabled=True)
        .select_related("provider")
        .order_by("-provider__from_environment", "provider__sort_order", "provider__name", "sort_order", "name")
    )
    counts = {}
    for row in rows:
        counts[row.name] = counts.get(row.name, 0) + 1
    endpoints, keys, offers = {}, [], []
    for row in rows:
        provider = row.provider
        if provider.pk not in endpoints:
            key = env_keys.get(provider.name, "") if provider.from_environment else provider.api_key
            keys.append(key)
            endpoints[provider.pk] = upstream.Endpoint(
                provider.base_url, key or "none", tuple(sorted((provider.extra_headers or {}).items()))
            )
        offers.append(
            Offer(
                id=row.name if counts[row.name] == 1 and row.name != DEMO else f"{provider.name}/{row.name}",
                name=row.name,
                label=row.display_name or row.name,
                provider=provider.name,
                endpoint=endpoints[provider.pk],
                vision=row.vision,
                reasoning=row.reasoning,
                max_output_tokens=row.max_output_tokens,
                context_window=row.context_window,
                params=tuple((row.extra_params or {}).items()),
                input_price=row.input_price,
                output_price=row.output_price,
            )
        )
    # The built-in demo: when asked for, or when there is nothing else.
    if DEMO in settings.OPENAI_MODELS or not offers:
        if settings.OPENAI_MODELS and settings.OPENAI_MODELS[0] == DEMO:
            offers.insert(0, DEMO_OFFER)
        else:
            offers.append(DEMO_OFFER)
    keys = [key for key in keys if key]
    redaction.remember(keys)
    return Catalogue(offers, settings.OPENAI_DEFAULT_MODEL, keys=keys)


_lock = threading.Lock()
_current = None
_built_at = 0.0


def current():
    """
    The catalogue (built when it is older than RELOAD_SECONDS). It reads the database: call
    it from sync code, a database thread.
    """
    global _current, _built_at
    catalogue = _current
    if catalogue is not None and time.monotonic() - _built_at < RELOAD_SECONDS:
        return catalogue
    with _lock:
        if _current is not catalogue and _current is not None:
            return _current
        try:
            fresh = build()
        except Exception:
            if catalogue is None:
                raise
            # The database is down for a moment: the models offered a moment ago still are.
            logger.warning("could not reload the models offered; keeping those loaded", exc_info=True)
            fresh = catalogue
        _current, _built_at = fresh, time.monotonic()
        return fresh


def reset(**kwargs):
    """Build it again at the next use (a provider or model was saved, a setting changed)."""
    global _current
    if kwargs.get("setting") is not None and kwargs["setting"] not in SETTINGS:
        return
    _current = None


for model in (Provider, ProviderModel):
    post_save.connect(reset, sender=model, dispatch_uid=f"catalogue-reset-save-{model.__name__}")
    post_delete.connect(reset, sender=model, dispatch_uid=f"catalogue-reset-delete-{model.__name__}")
setting_changed.connect(reset, dispatch_uid="catalogue-reset-setting")
