"""
Settings of a server process started by the tests (tests/support/servers.py): the test settings, on
the test database, with the fake provider, and the timings each test asks for.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["TEST_DATABASE_NAME"]
OPENAI_BASE_URL = os.environ["TEST_OPENAI_BASE_URL"]
for _name in (
    "CHAT_SAVE_INTERVAL",
    "CHAT_STOP_POLL_INTERVAL",
    "CHAT_ABANDONED_SECONDS",
    "CHAT_DRAIN_SECONDS",
    "SSE_HEARTBEAT_SECONDS",
):
    if _name in os.environ:
        globals()[_name] = float(os.environ[_name])
