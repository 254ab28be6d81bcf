"""
Debian's nginx in front of the app, each a process of its own on a free loopback port, with the
configurations servers really have: BaoTa's (宝塔) panel with its cache switch on or with
deploy/nginx/baota-proxy-snippet.conf pasted in, Debian's with deploy/nginx/chat.conf, and
any other the test writes.
"""

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.servers import ROOT, Server, free_port


def nginx_binary():
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if path is None:
        pytest.fail("nginx is not installed: apt-get install nginx-light (.ci/run installs it)")
    return path


# The frame of an nginx.conf, everything in a temporary prefix; `http` is the http block's body.
_NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
{http}
}}
"""


class Nginx(Server):
    """Debian's nginx, not daemonized, with the http block `http` written by the test."""

    marker = "nginx"
    start_timeout = 15
    # The port is picked before nginx binds it: if something took it meanwhile, another.
    attempts = 5

    def __init__(self, prefix, http):
        self.prefix = Path(prefix)
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.http = http
        self.process = None

    def _launch(self):
        self.port = free_port()
        # As root, nginx's workers would run as "nobody", which cannot enter pytest's
        # temporary directories.
        user = "user root root;" if os.geteuid() == 0 else ""
        conf = _NGINX_CONF.format(
            user=user,
            prefix=self.prefix,
            http=self.http.replace("{port}", str(self.port)).replace("{prefix}", str(self.prefix)),
        )
        (self.prefix / "nginx.conf").write_text(conf)
        command = [
            nginx_binary(),
            "-p",
            str(self.prefix),
            "-c",
            str(self.prefix / "nginx.conf"),
            "-e",
            str(self.prefix / "error.log"),
        ]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        with open(self.prefix / "nginx.out", "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def _ready(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def _exited(self):
        return self.process.poll() is not None

    def log(self):
        try:
            return (self.prefix / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.process and self.process.poll() is None:
            # QUIT would wait for open streams; TERM ends at once.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- nginx as servers really have it ---------------------------------------------------------

# The http block of a BaoTa (宝塔) server: the gzip settings of its nginx.conf, and its
# conf/proxy.conf, which caches every proxied site http-wide and cuts silent connections at
# 60 s (`read_timeout`; the tests shorten it to stay fast).
BAOTA_HTTP = """
    gzip on;
    gzip_min_length 1k;
    gzip_buffers 4 16k;
    gzip_http_version 1.1;
    gzip_comp_level 2;
    gzip_types text/plain application/javascript application/x-javascript text/javascript text/css application/xml;
    gzip_vary on;
    gzip_proxied expired no-cache no-store private auth;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }

    # /www/server/nginx/conf/proxy.conf
    proxy_cache_path {prefix}/proxy_cache_dir levels=1:2 keys_zone=cache_one:20m inactive=1d max_size=1g;
    client_body_buffer_size 512k;
    proxy_connect_timeout 60;
    proxy_read_timeout %(read_timeout)s;
    proxy_send_timeout 60;
    proxy_buffer_size 32k;
    proxy_buffers 4 64k;
    proxy_busy_buffers_size 128k;
    proxy_temp_file_write_size 128k;
    proxy_next_upstream error timeout invalid_header http_500 http_503 http_404;
    proxy_cache cache_one;
    proxy_cache_valid 200 304 301 302 1d;

    server {
        listen 127.0.0.1:{port};
        server_name chat.example.com;
        index index.html;
        root {prefix}/site;
%(site)s
    }
"""

# What the panel writes for a reverse proxy to the app with its cache (缓存) switch on.
BAOTA_PROXY_WITH_CACHE_SWITCH = """
        #PROXY-START/
        location ^~ /
        {
            proxy_pass http://127.0.0.1:%(app_port)s;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header REMOTE-HOST $remote_addr;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_http_version 1.1;

            add_header X-Cache $upstream_cache_status;
            #Set Nginx Cache
            proxy_ignore_headers Set-Cookie Cache-Control expires;
            proxy_cache cache_one;
            proxy_cache_key $host$uri$is_args$args;
            proxy_cache_valid 200 304 301 302 1m;
        }
        #PROXY-END/
"""


def _replace(text, old, new):
    assert old in text, f"expected {old!r} in the deployment file"
    return text.replace(old, new)


def baota_site(app_port, *, read_timeout="60s", snippet=False):
    """
    The http block of a BaoTa server proxying to the app: as the panel makes it with the
    cache switch on, or (`snippet`) with deploy/nginx/baota-proxy-snippet.conf pasted in.
    """
    if snippet:
        site = (ROOT / "deploy/nginx/baota-proxy-snippet.conf").read_text(encoding="utf-8")
        site = _replace(site, "http://127.0.0.1:8000", f"http://127.0.0.1:{app_port}")
    else:
        site = BAOTA_PROXY_WITH_CACHE_SWITCH % {"app_port": app_port}
    return BAOTA_HTTP % {"read_timeout": read_timeout, "site": site}


def debian_site(app_port):
    """The http block of Debian's nginx.conf with deploy/nginx/chat.conf enabled."""
    site = (ROOT / "deploy/nginx/chat.conf").read_text(encoding="utf-8")
    site = _replace(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = _replace(site, "listen 80;", "listen 127.0.0.1:{port};")
    site = _replace(site, "listen [::]:80;", "")
    site = _replace(site, "/var/log/nginx/", "{prefix}/")
    return (
        """
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    gzip on;
"""
        + site
    )


def custom_site(app_port, location="", *, http="", pass_host=True):
    """A bare server block proxying everything to the app, with `location` added to its location."""
    host = "proxy_set_header Host $host;" if pass_host else ""
    return f"""
    {http}
    server {{
        listen 127.0.0.1:{{port}};
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            {host}
            {location}
        }}
    }}
"""
