"""The production front as the fault runs start it: nginx from the distribution serving the
repository's ``deploy/nginx/conduit.conf`` in front of the service (fault 8), or of several
hosts as their load balancer (``make cluster``)."""

import os
import pwd
import re
import resource
import shutil
import subprocess
from collections import Counter

from tooling.harness import REPO, Daemon, system_binary, wait_listening

CONF = REPO / "deploy" / "nginx" / "conduit.conf"


def nginx_binary() -> str | None:
    return system_binary("nginx")


class Nginx(Daemon):
    """nginx from the distribution serving the repository's ``deploy/nginx/conduit.conf``
    in front of ``upstreams`` (``host:port`` each): its own directory, pid file, logs and
    port; a child process (``daemon off``) that ``stop`` ends. Its access log says which
    upstream answered each request (``upstream_counts``)."""

    log_files = ("stderr.log", "error.log")

    def __init__(self, *upstreams: str) -> None:
        # A directory of its own, which the worker user may enter when we are root.
        super().__init__("conduit-faults-nginx-")
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.upstreams = upstreams

    def site(self) -> str:
        """The repository's config with our port and upstreams, and nothing else changed."""
        text = CONF.read_text()
        servers = "".join(rf"\1server {upstream};\n" for upstream in self.upstreams)
        for pattern, line in (
            (r"(?m)^(\s*)listen\s+80;", rf"\1listen 127.0.0.1:{self.port};"),
            (r"(?m)^(\s*)server\s+127\.0\.0\.1:8000;\n", servers),
        ):
            text, found = re.subn(pattern, line, text)
            if found != 1:
                raise RuntimeError(f"{CONF}: expected one line matching {pattern!r}")
        return text

    def access_log(self) -> str:
        path = self.dir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def timeouts(self) -> float:
        """The longest client timeout the config sets (seconds): an idle client's bound."""
        found = re.findall(
            r"(?m)^\s*(?:client_header_timeout|client_body_timeout|keepalive_timeout)\s+(\d+)s;",
            CONF.read_text(),
        )
        return max((float(s) for s in found), default=60.0)

    def start(self, timeout: float = 10) -> None:
        binary = nginx_binary()
        assert binary is not None
        user = ""
        if os.geteuid() == 0:  # the workers run as an unprivileged user, who needs the dir
            worker = "www-data" if _user_exists("www-data") else "nobody"
            user = f"user {worker};"
            shutil.chown(self.dir, worker)
        (self.dir / "conduit.conf").write_text(self.site())
        temp = " ".join(
            f"{kind}_temp_path {self.dir / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As many connections as it may open files (it inherits our limit).
        connections = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100
        (self.dir / "nginx.conf").write_text(
            f"""{user}
worker_processes 1;
pid {self.dir / "nginx.pid"};
error_log {self.dir / "error.log"} warn;
events {{ worker_connections {connections}; }}
http {{
    log_format upstreams '$msec $status "$upstream_addr" "$upstream_status" "$request"';
    access_log {self.dir / "access.log"} upstreams;
    {temp}
    include {self.dir / "conduit.conf"};
}}
"""
        )
        command = [binary, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")]
        command += ["-e", str(self.dir / "error.log"), "-g", "daemon off;"]
        with (self.dir / "stderr.log").open("w") as output:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=output)
        wait_listening(self.process, self.port, timeout, self.log_text)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def upstream_counts(access_log: str) -> dict[str, Counter[str]]:
    """Per upstream that answered (the last one nginx tried), its answers by status class
    ("2xx", "5xx", ...); requests nginx answered itself (429, 413) under "nginx"."""
    counts: dict[str, Counter[str]] = {}
    for line in access_log.splitlines():
        match = ACCESS_LINE.match(line)
        if match:
            status, tried = match.groups()
            upstream = tried.split(",")[-1].strip() if tried != "-" else "nginx"
            counts.setdefault(upstream, Counter())[status[0] + "xx"] += 1
    return counts


ACCESS_LINE = re.compile(r'^[\d.]+ (\d{3}) "([^"]*)"')
