"""
The operator's checks of a provider, for the admin's actions and `manage.py doctor`: the models
it lists, a one-token request, and what failed in words an operator can act on (the status,
what the provider said, which setting to look at), redacted like every other text.

They run in the admin's (sync) requests and in doctor, with the openai SDK's plain client:
nothing here is on the chat's hot path.
"""

from dataclasses import dataclass

import openai
from django.conf import settings
from django.utils.translation import gettext as _

from chat import catalogue
from chat.models import ProviderModel
from chat.redaction import redact
from chat.upstream import public_error


class ProviderFault(Exception):
    """What went wrong with a provider, in the operator's words."""


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str
    fix: str = ""


def environment_spec(provider):
    """What the environment says of `provider` (a catalogue.EnvironmentProvider), or None."""
    if provider.from_environment:
        return next((spec for spec in catalogue.environment_providers() if spec.name == provider.name), None)
    return None


def where_to_fix(provider):
    if spec := environment_spec(provider):
        return _("Check %(prefix)s_BASE_URL and %(prefix)s_API_KEY in .env.") % {"prefix": spec.prefix}
    return _("Check the provider's base URL and API key in the admin.")


def model_fix(provider):
    if spec := environment_spec(provider):
        return _("Correct %(prefix)s_MODELS (and OPENAI_DEFAULT_MODEL) in .env.") % {"prefix": spec.prefix}
    return _("Correct the model's id in the admin.")


def api_key(provider):
    """The provider's key: the environment's for those it defines, else the one stored encrypted."""
    if provider.from_environment:
        spec = environment_spec(provider)
        return spec.api_key if spec else ""
    return provider.api_key


def client(provider):
    return openai.OpenAI(
        api_key=api_key(provider) or "none",
        base_url=provider.base_url,
        default_headers=provider.extra_headers or None,
        max_retries=0,
        timeout=openai.Timeout(30, connect=settings.OPENAI_CONNECT_TIMEOUT),
    )


def explain(exc, provider, *, model=""):
    """`exc`, raised by a request to `provider`, as a ProviderFault."""
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.body
        said = body.get("message") if isinstance(body, dict) else None
        meaning = {
            401: _("the API key was refused"),
            403: _("access was refused (the key's permissions, the account or the region)"),
            404: _("not found: check the base URL and the model id %(model)s") % {"model": repr(model)},
            429: _("rate limited, or the account's quota or balance is used up"),
        }.get(status, _("the provider answered with an error"))
        text = _("HTTP %(status)s: %(meaning)s.") % {"status": status, "meaning": meaning}
        if isinstance(said, str) and said.strip():
            text += " " + _("The provider said: %(said)s") % {"said": said.strip()[:500]}
        return ProviderFault(redact(text))
    error = public_error(exc, model=model)
    if error.kind in ("dns", "connect", "tls", "timeout", "broken"):
        text = _("Could not reach %(url)s: %(detail)s") % {"url": provider.base_url, "detail": error.detail[:300]}
        return ProviderFault(redact(text))
    return ProviderFault(redact(error.detail[:500]))


def listed_models(provider):
    """The ids the provider's `GET /models` lists; None when it lists none (not every one does)."""
    with client(provider) as sdk:
        try:
            return sorted({model.id for model in sdk.models.list()})
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise explain(exc, provider) from None
            return None
        except Exception as exc:
            raise explain(exc, provider) from None


def add_missing_models(provider):
    """Add the models the provider lists and the admin does not have yet, disabled; their names."""
    names = listed_models(provider)
    if names is None:
        raise ProviderFault(_("The provider does not list its models (GET /models): add them by hand."))
    known = set(provider.models.values_list("name", flat=True))
    missing = [name for name in names if name not in known]
    ProviderModel.objects.bulk_create(
        [ProviderModel(provider=provider, name=name, enabled=False) for name in missing], ignore_conflicts=True
    )
    catalogue.reset()
    return missing


def ask_one_token(provider, model):
    with client(provider) as sdk:
        try:
            sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
        except Exception as exc:
            raise explain(exc, provider, model=model) from None


def test(provider):
    """A one-token request to the provider's first enabled model (or its first); the Finding, recorded."""
    model = provider.models.order_by("-enabled", "sort_order", "name").first()
    if model is None:
        finding = Finding(False, _("No model to test: fetch the provider's models or add one."))
    else:
        try:
            ask_one_token(provider, model.name)
            finding = Finding(True, _("%(model)s answered a 1-token request.") % {"model": model.name})
        except ProviderFault as fault:
            finding = Finding(False, f"{model.name}: {fault}", where_to_fix(provider))
    provider.record_check(finding.ok, finding.text)
    return finding


def check(provider):
    """
    doctor's check of an enabled provider: reachable, key accepted, each enabled model known
    (from its list of models, or else by a one-token request each). The Findings; the verdict
    is recorded on the provider.
    """
    models = list(provider.models.filter(enabled=True).values_list("name", flat=True))
    findings = []
    try:
        offered = listed_models(provider)
    except ProviderFault as fault:
        findings = [Finding(False, str(fault), where_to_fix(provider))]
    else:
        if not models:
            fix = _("Enable one in the admin, or list it in .env.")
            findings.append(Finding(False, _("No model is enabled."), fix))
        for model in models:
            if offered is not None:
                if model in offered:
                    findings.append(Finding(True, model))
                else:
                    sample = ", ".join(offered[:12]) + (", ..." if len(offered) > 12 else "")
                    findings.append(
                        Finding(
                            False,
                            _("%(model)s: the provider does not offer this model. It offers: %(offered)s.")
                            % {"model": model, "offered": sample or _("nothing")},
                            model_fix(provider),
                        )
                    )
                continue
            try:
                ask_one_token(provider, model)
                findings.append(Finding(True, _("%(model)s (answered a 1-token request)") % {"model": model}))
            except ProviderFault as fault:
                findings.append(Finding(False, f"{model}: {fault}", where_to_fix(provider)))
    failed = [finding.text for finding in findings if not finding.ok]
    provider.record_check(not failed, "\n".join(failed) or _("All enabled models answer."))
    return findings
