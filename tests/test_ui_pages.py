"""The pages as the server sends them: security headers, translations, error pages."""

import ast
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

pytestmark = pytest.mark.django_db

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def po_entries(path):
    """(msgid, msgstr, flags) of each entry of a .po file, the header left out."""
    entries, current, field, flags = [], None, None, []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("#,"):
            flags = [flag.strip() for flag in line[2:].split(",")]
        elif line.startswith(("msgid ", "msgstr ", "msgstr[0] ")):
            field, _, value = line.partition(" ")
            # A plural entry (ngettext): Chinese has one form, msgstr[0].
            field = "msgstr" if field == "msgstr[0]" else field
            if field == "msgid":
                current = {"msgid": "", "msgstr": "", "flags": flags}
            current[field] += ast.literal_eval(value)
        elif line.startswith("msgid_plural "):
            field = None
        elif line.startswith('"') and current is not None and field is not None:
            current[field] += ast.literal_eval(line)
        elif not line.strip() and current is not None:
            if current["msgid"]:
                entries.append(current)
            current, field, flags = None, None, []
    return entries


def test_the_chinese_catalogue_is_complete_and_compiled():
    entries = po_entries(CATALOGUE)
    assert len(entries) > 100
    for entry in entries:
        assert entry["msgstr"], f"untranslated: {entry['msgid']!r}"
        assert "fuzzy" not in entry["flags"], f"fuzzy: {entry['msgid']!r}"
        assert set(re.findall(r"\{\w+\}", entry["msgid"])) == set(re.findall(r"\{\w+\}", entry["msgstr"]))
    # The committed .mo says the same as the .po (compilemessages was run).
    with translation.override("zh-hans"):
        for entry in entries:
            assert translation.gettext(entry["msgid"]) == entry["msgstr"]


def page_config(response):
    match = re.search(r'<script id="chat-config" type="application/json">(.*?)</script>', response.content.decode())
    return json.loads(match.group(1))


def test_the_chat_page_follows_a_chinese_browser(owner_client):
    response = owner_client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.8")
    body = response.content.decode()
    assert '<html lang="zh-hans"' in body
    assert "新对话" in body and "发送消息" in body and "搜索对话" in body
    strings = page_config(response)["strings"]
    assert strings["copy"] == "复制" and strings["regenerate"] == "重新生成"


def test_the_chat_page_is_english_for_an_english_browser(owner_client):
    response = owner_client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert '<html lang="en"' in response.content.decode()
    assert page_config(response)["strings"]["copy"] == "Copy"


def test_the_language_can_be_switched(owner_client):
    owner_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert "新对话" in owner_client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_login_page_is_translated(client):
    body = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "登录" in body and "用户名" in body and "密码" in body


@pytest.mark.parametrize(
    "path", ["/", "/accounts/login/", "/admin/", "/admin/login/", "/admin/chat/conversation/", "/no-such-page/"]
)
def test_pages_send_a_content_security_policy_without_inline_script(owner_client, client, django_user_model, path):
    if path.startswith("/admin/") and path != "/admin/login/":
        staff = django_user_model.objects.create_superuser("staff", password="staff-password")
        client.force_login(staff)
    response = (owner_client if path == "/" else client).get(path)
    assert response.status_code in (200, 404)
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "<script>" not in response.content.decode()  # nothing inline to allow


def test_a_conversation_page_of_another_user_is_a_translated_404(outsider_client, owner):
    from chat.models import Conversation

    conversation = Conversation.objects.create(owner=owner, model="fake-model", title="Private")
    response = outsider_client.get(f"/c/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 404
    body = response.content.decode()
    assert "页面不存在" in body and "Private" not in body


def test_a_host_name_the_site_does_not_serve_gets_the_products_own_400(client, settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    response = client.get("/", HTTP_HOST="evil.example", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert response.status_code == 400
    body = response.content.decode()
    assert "请求有误" in body and "返回聊天" in body
    assert "evil.example" not in body and "ALLOWED_HOSTS" not in body
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_a_form_sent_without_its_csrf_token_gets_the_products_own_403(owner, settings):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "owner", "password": "owner-password"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "This page has expired" in body and "reload the page" in body
    assert "CSRF" not in body and "csrf_token" not in body


def test_a_forbidden_page_gets_the_products_own_403(client):
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import permission_denied

    response = permission_denied(client.get("/healthz").wsgi_request, PermissionDenied("a detail"))
    assert response.status_code == 403
    body = response.content.decode()
    assert "Access denied" in body and "a detail" not in body


@pytest.mark.browser
def test_the_admin_works_under_the_content_security_policy(make_page, django_user_model, owner):
    from chat.models import Conversation

    Conversation.objects.create(owner=owner, model="fake-model", title="Kept for the operator")
    staff = django_user_model.objects.create_superuser("staff", password="staff-password")
    page = make_page(staff)
    refused = []
    page.on("console", lambda message: "Content Security Policy" in message.text and refused.append(message.text))
    page.goto("/admin/chat/conversation/")
    page.wait_for_selector("text=Kept for the operator")
    # The admin's own scripts ran: the select-all checkbox of the change list is wired up.
    page.check("#action-toggle")
    assert page.is_checked("input.action-select")
    assert not refused, refused
