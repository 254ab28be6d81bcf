"""
Files through Debian's nginx with deploy/nginx/chat.conf, its X-Accel-Redirect location
uncommented (docs/deploy.md, "Uploaded files"): an upload as large as CHAT_MAX_UPLOAD_MB gets
through, the app checks the owner and nginx sends the file, with the app's type and
disposition and the location's nosniff; the internal location itself answers nobody.
"""

import io
import json

import pytest
from PIL import Image

from tests.support.live import LiveClient
from tests.support.nginx import Nginx, debian_site
from tests.support.servers import Gunicorn, production_env

pytestmark = [pytest.mark.gunicorn, pytest.mark.nginx]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return tmp_path_factory.mktemp("nginx-media")


@pytest.fixture(scope="module")
def app(django_db_setup, fake_upstream_server, static_root, media, tmp_path_factory):
    env = production_env(
        OPENAI_BASE_URL=fake_upstream_server.base_url,
        STATIC_ROOT=static_root,
        MEDIA_ROOT=media,
        CHAT_FILES_ACCEL_REDIRECT="/protected-files/",
    )
    server = Gunicorn(env, tmp_path_factory.mktemp("nginx-files-app") / "gunicorn.log").start()
    yield server
    server.stop()


def uncommented(site, media):
    """chat.conf with its /protected-files/ location uncommented, its alias MEDIA_ROOT."""
    start = site.index("    # location /protected-files/ {")
    end = site.index("    # }", start) + len("    # }")
    lines = [line.replace("    # ", "    ", 1) for line in site[start:end].splitlines()]
    block = "\n".join(lines).replace("/srv/chat/media/", f"{media}/")
    return site[:start] + block + site[end:]


@pytest.fixture(scope="module")
def proxy(app, media, tmp_path_factory):
    nginx = Nginx(tmp_path_factory.mktemp("nginx-files"), uncommented(debian_site(app.port), media)).start()
    yield nginx
    nginx.stop()


def multipart(name, data, content_type):
    boundary = "chat-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def request(client, method, path, body=None, headers=None):
    stream = client.open(method, path, body, headers=headers)
    try:
        return stream.status, stream.headers, stream.response.read()
    finally:
        stream.close()


def test_nginx_sends_the_owners_file_once_the_app_has_checked_the_owner(proxy, live, owner, outsider, media):
    client = LiveClient(proxy.url, owner)
    image = io.BytesIO()
    Image.new("RGB", (50, 40), (10, 20, 30)).save(image, "PNG")
    status, _, body = request(client, "POST", "/api/files/", *multipart("plan.png", image.getvalue(), "image/png"))
    assert status == 201, body
    file_id = json.loads(body)["id"]
    stored = next((media / "files").iterdir())

    status, headers, body = request(client, "GET", f"/api/files/{file_id}/")
    assert status == 200 and body == stored.read_bytes()
    assert headers["content-type"] == "image/png" and headers["content-disposition"].startswith("inline")
    assert headers["x-content-type-options"] == "nosniff" and "x-accel-redirect" not in headers

    assert request(LiveClient(proxy.url, outsider), "GET", f"/api/files/{file_id}/")[0] == 404
    assert request(client, "GET", f"/protected-files/files/{stored.name}")[0] == 404


def test_an_upload_as_large_as_the_limit_gets_through_nginx(proxy, live, owner):
    client = LiveClient(proxy.url, owner)
    text = b"line of text\n" * (10 * 1024 * 1024 // 13)
    status, _, body = request(client, "POST", "/api/files/", *multipart("big.txt", text, "text/plain"))
    assert status == 201, body[:300]
    status, _, body = request(
        client, "POST", "/api/files/", *multipart("bigger.txt", text + b"x" * 200_000, "text/plain")
    )
    assert status == 413 and b"larger than 10 MB" in body
