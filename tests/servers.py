"""
Real server processes for the tests that need more than one, or that kill one: the
production command (gunicorn -c gunicorn.conf.py, uvicorn workers) on the test database,
talking to the fake provider.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    def __init__(self, upstream, log_path, **settings):
        self.upstream = upstream
        self.log_path = log_path
        self.settings = {name: str(value) for name, value in settings.items()}
        self.process = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        # The test process opens the listening socket and hands it over, so the port is
        # never one that something else takes in between.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.server_settings",
            "TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
            "TEST_OPENAI_BASE_URL": self.upstream.base_url,
            "GUNICORN_BIND": f"fd://{listener.fileno()}",
            "WEB_CONCURRENCY": "1",
            "GUNICORN_ACCESSLOG": "off",
            "GUNICORN_GRACEFUL_TIMEOUT": "30",
            **self.settings,
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=[listener.fileno()],
                start_new_session=True,
            )
        listener.close()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start-up:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the server did not start:\n{self.log()}")

    def log(self):
        return Path(self.log_path).read_text(errors="replace")

    def terminate(self, timeout=30):
        """SIGTERM, as systemd or Supervisor stop it; returns its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self):
        """SIGKILL to the whole process group: master and workers die at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            try:
                self.terminate(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
