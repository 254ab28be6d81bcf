"""
`python -m chatproject.secret_key`: make sure the project has a SECRET_KEY, before anything
reads the settings (`make run` runs it first). When neither the environment nor `.env` sets
one, a random key is written into `.env` (created readable by its owner only), and kept from
then on: sessions and signed values outlive a restart. Nothing else in `.env` changes.
"""

import os
import re
import secrets
import sys
from pathlib import Path

ENV_FILE = Path(os.environ.get("ENV_FILE") or Path(__file__).resolve().parent.parent / ".env")
LINE = re.compile(r"^[ \t]*SECRET_KEY[ \t]*=[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def ensure(path=ENV_FILE, environ=os.environ):
    """Write a new SECRET_KEY into `path` unless one is set; True when it wrote one."""
    if environ.get("SECRET_KEY"):
        return False
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    found = LINE.search(text)
    if found and found.group(1).strip("'\""):
        return False
    line = f"SECRET_KEY={secrets.token_urlsafe(50)}"
    if found:
        text = text[: found.start()] + line + text[found.end() :]
    else:
        text += ("" if not text or text.endswith("\n") else "\n") + line + "\n"
    # Created readable by its owner only; an existing file keeps its mode.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as env_file:
        env_file.write(text)
    return True


if __name__ == "__main__":
    if ensure():
        print(f"Wrote a new random SECRET_KEY into {ENV_FILE}.", file=sys.stderr)
