"""What ``make cluster`` starts: a PostgreSQL primary and its streaming replica (clusters of
their own), PgBouncer in transaction mode in front of each, the API hosts (``conduit serve``
with 2 workers, each in a network namespace of its own) and nginx with the production front
configuration as their load balancer. ``stop`` stops all of it, whatever state it is in."""

import contextlib
from collections.abc import Callable
from pathlib import Path

import stack
from behind_pgbouncer import PgBouncer
from front import Nginx

from cluster.netns import Namespace, make_namespaces
from tooling.harness import BIN, Server
from tooling.pgcluster import PgCluster

DATABASE = "conduit"
HOST_PORT = 8000
# The app's settings for its read replicas (zero or more URLs, comma-separated; how far behind
# the primary anyone may read), set on the hosts unless --no-replica-reads.
REPLICA_URLS_SETTING = "DATABASE_REPLICA_URLS"
REPLICA_LAG_SETTING = "REPLICA_MAX_LAG_SECONDS"


def pooled_url(bouncer: PgBouncer, address: str) -> str:
    """The database through ``bouncer``, reached at ``address`` (a host's end of its link)."""
    return f"postgresql+psycopg://postgres@{address}:{bouncer.port}/{DATABASE}"


class Topology:
    """The cluster, started piece by piece; ``stop`` undoes whatever was started."""

    def __init__(
        self,
        workdir: Path,
        hosts: int = 3,
        workers: int = 2,
        replica_reads: bool = False,
        staleness_bound: float = 2.0,
        host_env: dict[str, str] | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.workdir = workdir
        self.host_count = hosts
        self.workers = workers
        self.replica_reads = replica_reads
        self.staleness_bound = staleness_bound
        self.host_env = host_env or {}
        self.say = say
        self.primary: PgCluster | None = None
        self.replica: PgCluster | None = None  # None once promoted: then it is the primary
        self.clusters: list[PgCluster] = []
        self.bouncer: PgBouncer | None = None
        self.replica_bouncer: PgBouncer | None = None
        self.namespaces: list[Namespace] = []
        self.hosts: list[Server] = []
        self.nginx: Nginx | None = None

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        self.primary = PgCluster.create("cluster")
        self.clusters.append(self.primary)
        stack.use_cluster(self.primary)  # the invariants' helper connections go there
        with self.primary.connect() as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
        self.replica = self.primary.replica()
        self.clusters.append(self.replica)
        self.say(
            f"PostgreSQL: primary {self.primary.name} on :{self.primary.port}, "
            f"streaming replica {self.replica.name} on :{self.replica.port}"
        )
        self.namespaces = make_namespaces(self.host_count)
        # PgBouncer listens where the hosts reach it: the root end of each host's link.
        listen = ",".join(["127.0.0.1", *(ns.root_ip for ns in self.namespaces)])
        self.bouncer = PgBouncer(self.primary.port, listen)
        self.bouncer.start()
        self.replica_bouncer = PgBouncer(self.replica.port, listen)
        self.replica_bouncer.start()
        self.say(
            f"PgBouncer (transaction mode): :{self.bouncer.port} -> primary, "
            f":{self.replica_bouncer.port} -> replica"
        )
        stack.migrate(self.primary.url(DATABASE), self.workdir)
        for index, namespace in enumerate(self.namespaces, start=1):
            self.hosts.append(self.host(index, namespace))
        for host in self.hosts:
            host.start(timeout=120)
        self.say(
            "API hosts: "
            + ", ".join(f"{ns.name} {ns.host_ip}:{HOST_PORT}" for ns in self.namespaces)
            + f" ({self.workers} workers each)"
        )
        self.nginx = Nginx(*(f"{ns.host_ip}:{HOST_PORT}" for ns in self.namespaces))
        self.nginx.start()
        self.say(f"nginx (deploy/nginx/conduit.conf): {self.nginx.base_url}")

    def host(self, index: int, namespace: Namespace) -> Server:
        """``conduit serve`` in ``namespace``, on PgBouncer (and the replica's, if asked)."""
        assert self.bouncer is not None and self.replica_bouncer is not None
        settings = {
            "DATABASE_URL": pooled_url(self.bouncer, namespace.root_ip),
            "DB_PREPARED_STATEMENTS": "false",  # PgBouncer in transaction mode
            "JWT_SECRET": stack.JWT_SECRET,
            # The balancer's address as the host sees it: its X-Forwarded-For is believed.
            "FORWARDED_ALLOW_IPS": namespace.root_ip,
            "API_HOSTS": str(self.host_count),  # the start-up check counts them all
        }
        if self.replica_reads:
            settings[REPLICA_URLS_SETTING] = pooled_url(self.replica_bouncer, namespace.root_ip)
            settings[REPLICA_LAG_SETTING] = str(self.staleness_bound)
        env = stack.app_env(**stack.SERVICE_SETTINGS, **settings, **self.host_env)
        argv = [str(BIN / "conduit"), "serve", "--host", namespace.host_ip]
        argv += ["--port", str(HOST_PORT), "--workers", str(self.workers)]
        argv += ["--timeout-graceful-shutdown", "10"]
        return Server(
            f"host {index}",
            namespace.command(argv),
            env,
            self.workdir / f"host-{index}.log",
            port=HOST_PORT,
            ready_path="/health/ready",
            cwd=self.workdir,
            host=namespace.host_ip,
        )

    # -- the documented manual failover ---------------------------------------------------------

    def fail_over(self) -> None:
        """The replica becomes the primary; PgBouncer is re-pointed at it (restarted), so the
        hosts' DATABASE_URL stays as it is. The old primary must be down already."""
        assert self.replica is not None and self.bouncer is not None
        new_primary = self.replica
        new_primary.promote()
        self.primary, self.replica = new_primary, None
        stack.use_cluster(new_primary)
        self.bouncer.restart(server_port=new_primary.port)

    # -- stop -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Everything started, in reverse order; each step even if an earlier one failed."""
        steps: list[Callable[[], object]] = []
        if self.nginx is not None:
            steps.append(self.nginx.stop)
        steps += [host.stop for host in self.hosts]
        steps += [b.stop for b in (self.bouncer, self.replica_bouncer) if b is not None]
        steps += [ns.delete for ns in self.namespaces]
        steps += [cluster.drop for cluster in reversed(self.clusters)]
        for step in steps:
            try:
                step()
            except Exception as error:  # the rest must still be stopped
                with contextlib.suppress(Exception):
                    self.say(f"cleanup: {error}")
