"""nginx as make cluster runs it: the production config balancing several hosts, and the
per-host figures read from its access log."""

from faults.front import CONF, Nginx, upstream_counts

HOSTS = ("10.213.1.6:8000", "10.213.1.10:8000", "10.213.1.14:8000")


def test_the_balancer_serves_the_production_config_with_only_its_port_and_hosts_changed():
    nginx = Nginx(*HOSTS)
    try:
        site = nginx.site().splitlines()
    finally:
        nginx.stop()
    ours = [f"    listen 127.0.0.1:{nginx.port};", *(f"    server {host};" for host in HOSTS)]
    theirs = ["    listen 80;", "    server 127.0.0.1:8000;"]

    assert all(line in site for line in ours)
    assert [line for line in site if line not in ours] == [
        line for line in CONF.read_text().splitlines() if line not in theirs
    ]


def test_requests_count_for_the_host_that_answered_them():
    log = "\n".join(
        [
            '1764140000.100 200 "10.213.1.6:8000" "200" "GET /api/tags HTTP/1.1"',
            # Refused by a dead host, answered by the next one: the next one's.
            '1764140000.200 201 "10.213.1.10:8000, 10.213.1.14:8000" "502, 201" "POST /x"',
            '1764140000.300 502 "10.213.1.10:8000" "502" "POST /api/articles HTTP/1.1"',
            '1764140000.400 429 "-" "-" "POST /api/users/login HTTP/1.1"',
        ]
    )

    counts = upstream_counts(log)

    assert {host: dict(c) for host, c in counts.items()} == {
        "10.213.1.6:8000": {"2xx": 1},
        "10.213.1.14:8000": {"2xx": 1},
        "10.213.1.10:8000": {"5xx": 1},
        "nginx": {"4xx": 1},
    }
