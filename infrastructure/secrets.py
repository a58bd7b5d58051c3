"""A signing secret of its own for every installation: nothing secret ships in the source."""

import os
import secrets
from pathlib import Path

from dotenv import dotenv_values


def ensure_jwt_secret(env_file: Path) -> bool:
    """Append a random ``JWT_SECRET`` to ``env_file`` unless one is set; True if it wrote one.

    Set means: in the environment, or as a line of ``env_file`` (even an empty one, which
    the service then refuses with a message, rather than this overwriting what someone
    wrote). The file is made readable by its owner only.
    """
    if os.environ.get("JWT_SECRET") or (
        env_file.exists() and "JWT_SECRET" in dotenv_values(env_file)
    ):
        return False
    existing = env_file.read_text() if env_file.exists() else ""
    separator = "" if not existing or existing.endswith("\n") else "\n"
    # 48 random bytes: 64 characters of URL-safe base64, well over HS256's 32-byte minimum.
    line = f"JWT_SECRET={secrets.token_urlsafe(48)}\n"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as file:
        file.write(separator + line)
    os.chmod(env_file, 0o600)
    return True
