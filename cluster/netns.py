"""Network namespaces for the cluster's API hosts: each host gets a namespace of its own,
joined to the root namespace by a veth pair on a /30 of its own (root side .1, host side .2
of each /30 in 10.213.<n>.0/24), so that it reaches PgBouncer and nginx reaches it only over
that link, like a separate machine.

Names carry the run id (``cc<pid>h<i>``), and the /24 is one no interface uses yet, so that
concurrent runs never collide. Needs root.
"""

import ipaddress
import os
import subprocess
from dataclasses import dataclass

PREFIX = "10.213"


def _ip(*args: str, check: bool = True) -> str:
    completed = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and completed.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {completed.stderr.strip()}")
    return completed.stdout


def _free_subnet() -> int:
    """The third octet of a 10.213.x.0/24 no interface has an address in."""
    used = _ip("-o", "-4", "addr", "show")
    start = os.getpid() % 250
    for offset in range(250):
        octet = (start + offset) % 250 + 1
        if f" {PREFIX}.{octet}." not in used:
            return octet
    raise RuntimeError(f"no free /24 in {PREFIX}.0.0/16")


@dataclass
class Namespace:
    """One host's namespace and its link to the root namespace."""

    name: str
    root_ip: str  # the root namespace's end: PgBouncer listens here for this host
    host_ip: str  # the host's end: it serves here, nginx connects to it

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def create(self) -> None:
        peer = f"{self.name}p"
        _ip("netns", "add", self.name)
        _ip("link", "add", self.name, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", self.name)
        _ip("addr", "add", f"{self.root_ip}/30", "dev", self.name)
        _ip("link", "set", self.name, "up")
        _ip("-n", self.name, "addr", "add", f"{self.host_ip}/30", "dev", peer)
        _ip("-n", self.name, "link", "set", peer, "up")
        _ip("-n", self.name, "link", "set", "lo", "up")

    def delete(self) -> None:
        """Remove the link and the namespace (whatever of them exists)."""
        _ip("link", "del", self.name, check=False)  # its peer goes with it
        _ip("netns", "del", self.name, check=False)


def make_namespaces(count: int) -> list[Namespace]:
    """``count`` namespaces, created; on a failure the ones made are removed again."""
    octet = _free_subnet()
    subnet = ipaddress.ip_network(f"{PREFIX}.{octet}.0/24")
    made: list[Namespace] = []
    try:
        for index in range(count):
            base = subnet.network_address + 4 * (index + 1)
            namespace = Namespace(f"cc{os.getpid()}h{index + 1}", str(base + 1), str(base + 2))
            made.append(namespace)
            namespace.create()
    except BaseException:
        for namespace in made:
            namespace.delete()
        raise
    return made


def stale_namespaces() -> list[str]:
    """Our namespaces whose run (the pid in their name) is gone."""
    names = [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]
    return [
        name
        for name in names
        if name.startswith("cc")
        and "h" in name
        and name[2 : name.index("h")].isdigit()
        and not os.path.exists(f"/proc/{name[2 : name.index('h')]}")
    ]


def drop_stale() -> None:
    for name in stale_namespaces():
        Namespace(name, "", "").delete()
