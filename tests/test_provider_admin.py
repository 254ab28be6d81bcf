"""
The operator's providers in the admin: a key entered is stored encrypted and never shown back,
the environment's providers are marked and not edited here, and the actions fetch a provider's
models and test it against a real fake upstream on loopback. And rotating the encryption key.
"""

import secrets

import pytest
from django.core.management import CommandError, call_command

from chat import catalogue
from chat.models import Provider, ProviderModel
from tests.support import canary
from tests.support.fake_upstream import Script
from tests.support.servers import free_port

pytestmark = pytest.mark.django_db

INLINE = {
    "models-TOTAL_FORMS": "0",
    "models-INITIAL_FORMS": "0",
    "models-MIN_NUM_FORMS": "0",
    "models-MAX_NUM_FORMS": "1000",
}


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def new_key():
    # Made at run time: no literal in the code looks like a key.
    return "k5-" + secrets.token_hex(16)


def form(provider, **changes):
    data = {
        "name": provider.name,
        "base_url": provider.base_url,
        "api_key": "",
        "extra_headers": "{}",
        "enabled": "on",
        "sort_order": "0",
        **INLINE,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def pages_of(admin_client, provider):
    return [
        admin_client.get(path).content.decode()
        for path in (
            "/admin/chat/provider/",
            f"/admin/chat/provider/{provider.pk}/change/",
            f"/admin/chat/provider/{provider.pk}/history/",
        )
    ]


def test_a_key_entered_is_stored_encrypted_and_never_shown_back(admin_client):
    key = new_key()
    response = admin_client.post(
        "/admin/chat/provider/add/",
        {
            "name": "relay",
            "base_url": "https://api.example.com",
            "api_key": key,
            "extra_headers": "{}",
            "enabled": "on",
            "sort_order": "0",
            **INLINE,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]

    provider = Provider.objects.get(name="relay")
    assert provider.base_url == "https://api.example.com/v1"
    assert provider.api_key == key
    assert key not in provider.encrypted_api_key and key[:12] not in provider.encrypted_api_key
    for page in pages_of(admin_client, provider):
        assert key not in page and key[:12] not in page
    assert "set" in pages_of(admin_client, provider)[1]


def test_an_empty_key_field_keeps_the_key_a_new_one_replaces_it_and_clear_clears_it(admin_client):
    provider = Provider(name="relay", base_url="https://api.example.com/v1")
    first = new_key()
    provider.api_key = first
    provider.save()
    change = f"/admin/chat/provider/{provider.pk}/change/"

    assert admin_client.post(change, form(provider)).status_code == 302
    provider.refresh_from_db()
    assert provider.api_key == first

    second = new_key()
    assert admin_client.post(change, form(provider, api_key=second)).status_code == 302
    provider.refresh_from_db()
    assert provider.api_key == second

    assert admin_client.post(change, form(provider, clear_api_key="on")).status_code == 302
    provider.refresh_from_db()
    assert (provider.api_key, provider.has_api_key) == ("", False)
    assert "not set" in admin_client.get(change).content.decode()


def test_the_environments_provider_is_marked_and_its_key_and_url_are_not_edited_here(admin_client):
    catalogue.current()
    provider = Provider.objects.get(name="local")

    listing, change, _history = pages_of(admin_client, provider)

    assert "local" in listing and "set in the environment" in listing
    assert 'name="api_key"' not in change and 'name="base_url"' not in change
    assert provider.base_url in change
    for page in (listing, change):
        assert not canary.carries_key(page)


def test_fetch_models_adds_the_missing_ones_disabled(admin_client, upstream):
    key = new_key()
    provider = Provider(name="relay", base_url=upstream.base_url)
    provider.api_key = key
    provider.save()
    ProviderModel.objects.create(provider=provider, name="fake-model", display_name="Mine", enabled=True)
    upstream.models = ["fake-model", "new-a", "new-b"]

    response = admin_client.post(
        "/admin/chat/provider/", {"action": "fetch_models", "_selected_action": [provider.pk]}, follow=True
    )

    body = response.content.decode()
    assert "Relay: added 2 models, disabled: new-a, new-b." in body
    assert list(provider.models.order_by("name").values_list("name", "enabled", "display_name")) == [
        ("fake-model", True, "Mine"),
        ("new-a", False, ""),
        ("new-b", False, ""),
    ]
    [listing] = [r for r in upstream.requests if r.path.endswith("/models")]
    assert listing.headers["authorization"] == f"Bearer {key}"
    assert key not in body


def test_fetch_models_from_an_unreachable_provider_says_so_and_adds_nothing(admin_client):
    provider = Provider.objects.create(name="away", base_url=f"http://127.0.0.1:{free_port()}/v1")

    response = admin_client.post(
        "/admin/chat/provider/", {"action": "fetch_models", "_selected_action": [provider.pk]}, follow=True
    )

    assert f"Away: Could not reach {provider.base_url}" in response.content.decode()
    assert not provider.models.exists()


def test_the_test_action_records_a_pass_and_a_refused_key_in_the_operators_words(admin_client, upstream):
    key = new_key()
    provider = Provider(name="relay", base_url=upstream.base_url)
    provider.api_key = key
    provider.save()
    ProviderModel.objects.create(provider=provider, name="fake-model")
    test = {"action": "test_providers", "_selected_action": [provider.pk]}

    passed = admin_client.post("/admin/chat/provider/", test, follow=True).content.decode()
    provider.refresh_from_db()
    assert "Relay: fake-model answered a 1-token request." in passed
    assert provider.check_ok is True and provider.checked_at is not None
    assert "passed: fake-model answered" in admin_client.get("/admin/chat/provider/").content.decode()

    upstream.completions.append(Script(status=401, error_message=f"Incorrect API key provided: {key}"))
    failed = admin_client.post("/admin/chat/provider/", test, follow=True).content.decode()
    provider.refresh_from_db()
    assert provider.check_ok is False
    assert "fake-model: HTTP 401: the API key was refused." in provider.check_message
    assert "The provider said: Incorrect API key provided: [API key]" in provider.check_message
    assert "HTTP 401: the API key was refused." in failed
    assert key not in failed and key not in provider.check_message


def test_people_who_are_not_staff_cannot_see_the_providers(client, outsider):
    client.force_login(outsider)
    response = client.get("/admin/chat/provider/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_rotating_the_encryption_key_keeps_every_key_readable(settings):
    settings.ENCRYPTION_KEY = "old-" + secrets.token_hex(16)
    old = settings.ENCRYPTION_KEY
    provider = Provider(name="relay", base_url="https://api.example.com/v1")
    key = new_key()
    provider.api_key = key
    provider.save()

    settings.ENCRYPTION_KEY = "new-" + secrets.token_hex(16)
    assert Provider.objects.get().api_key == ""  # the old key is no longer in use
    settings.ENCRYPTION_KEY_FALLBACKS = [old]
    assert Provider.objects.get().api_key == key
    call_command("rotate_encryption_key")
    settings.ENCRYPTION_KEY_FALLBACKS = []

    assert Provider.objects.get().api_key == key


def test_rotating_without_the_old_key_names_the_providers_it_cannot_read(settings):
    settings.ENCRYPTION_KEY = "old-" + secrets.token_hex(16)
    provider = Provider(name="relay", base_url="https://api.example.com/v1")
    provider.api_key = new_key()
    provider.save()
    settings.ENCRYPTION_KEY = "new-" + secrets.token_hex(16)

    with pytest.raises(CommandError, match="No key in use decrypts the API key of: relay"):
        call_command("rotate_encryption_key")


def test_a_new_secret_key_with_the_old_one_as_a_fallback_keeps_the_keys_readable(settings):
    settings.ENCRYPTION_KEY = ""
    provider = Provider(name="relay", base_url="https://api.example.com/v1")
    key = new_key()
    provider.api_key = key
    provider.save()

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "another-" + secrets.token_hex(24)

    assert Provider.objects.get().api_key == key
