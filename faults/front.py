"""The production front as the fault runs start it: nginx from the distribution serving the
repository's ``deploy/nginx/conduit.conf`` in front of the service (fault 8)."""

import os
import pwd
import re
import resource
import shutil
import subprocess

from tooling.harness import REPO, Daemon, system_binary, wait_listening

CONF = REPO / "deploy" / "nginx" / "conduit.conf"


def nginx_binary() -> str | None:
    return system_binary("nginx")


class Nginx(Daemon):
    """nginx from the distribution serving the repository's ``deploy/nginx/conduit.conf``
    in front of ``upstream_port``: its own directory, pid file, logs and port; a child
    process (``daemon off``) that ``stop`` ends."""

    log_files = ("stderr.log", "error.log")

    def __init__(self, upstream_port: int) -> None:
        # A directory of its own, which the worker user may enter when we are root.
        super().__init__("conduit-faults-nginx-")
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.upstream_port = upstream_port

    def site(self) -> str:
        """The repository's config with our two ports, and nothing else changed."""
        text = CONF.read_text()
        for pattern, line in (
            (r"(?m)^(\s*)listen\s+80;", rf"\1listen 127.0.0.1:{self.port};"),
            (
                r"(?m)^(\s*)server\s+127\.0\.0\.1:8000;",
                rf"\1server 127.0.0.1:{self.upstream_port};",
            ),
        ):
            text, found = re.subn(pattern, line, text)
            if found != 1:
                raise RuntimeError(f"{CONF}: expected one line matching {pattern!r}")
        return text

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
    access_log {self.dir / "access.log"};
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
