"""The production front (deploy/nginx/conduit.conf) agrees with nginx and with the service."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from infrastructure.settings import Settings
from tests.conftest import ROOT

CONF = ROOT / "deploy" / "nginx" / "conduit.conf"
UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


def directive(name: str, text: str | None = None) -> str:
    """The value of the one ``name`` directive in the config."""
    found = re.findall(rf"(?m)^\s*{name}\s+([^;]+);", text or CONF.read_text())
    assert len(found) == 1, f"{name}: {found}"
    return found[0].strip()


def size(value: str) -> int:
    match = re.fullmatch(r"(\d+)([km]?)", value.lower())
    assert match is not None, f"not an nginx size: {value}"
    return int(match[1]) * UNITS[match[2]]


def test_nginx_refuses_bodies_over_what_the_service_accepts():
    # Larger, and nginx would buffer bodies the service then refuses; smaller, and it would
    # refuse what the API allows.
    max_body = Settings.model_fields["max_body_bytes"].default
    assert size(directive("client_max_body_size")) == max_body
    assert size(directive("client_body_buffer_size")) >= max_body  # held in memory, no files


def test_nginx_closes_idle_upstream_connections_before_the_service_does():
    # Otherwise nginx may reuse a connection the service is closing at that moment: a 502.
    fields = Settings.model_fields
    if "keepalive_timeout_seconds" in fields:
        service = float(fields["keepalive_timeout_seconds"].default)
    else:
        service = 5.0  # uvicorn's timeout_keep_alive
    upstream = re.search(r"(?s)upstream conduit \{(.*?)\}", CONF.read_text())
    assert upstream is not None
    nginx = directive("keepalive_timeout", upstream.group(1))
    assert float(nginx.removesuffix("s")) < service


@pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="nginx is not installed (Debian: apt-get install -y nginx)",
)
def test_nginx_accepts_the_config(tmp_path: Path):
    main = tmp_path / "nginx.conf"
    temp = " ".join(f"{k}_temp_path {tmp_path / k};" for k in ("client_body", "proxy"))
    main.write_text(
        f"pid {tmp_path / 'pid'};\nevents {{}}\nhttp {{ access_log off; {temp} include {CONF}; }}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    log = tmp_path / "error.log"
    done = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(main), "-e", str(log)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
