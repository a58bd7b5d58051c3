"""The cluster's load: several clients, each from a loopback address of its own (nginx
limits sign-ups and logins per address, as it should for real clients), sharing one ledger
of acknowledged writes (faults/load.py's driver and ledger)."""

import asyncio
from collections import Counter
from dataclasses import dataclass

from load import PASSWORD, Ledger, LoadDriver, Record, User, last_record

# Of the mixed requests; the rest is faults/load.py's mix (3% sign-ups). Together they stay
# under nginx's 2 a second per address at the ~30 requests a second one client makes here.
LOGIN_SHARE = 0.01
# Tries of a read that checks a write (a 503 says nothing about what the replica holds).
READ_ATTEMPTS = 3


@dataclass
class Client:
    driver: LoadDriver
    users: list[User]


class Clients:
    def __init__(self, base_url: str, clients: int, users_per_client: int) -> None:
        self.ledger = Ledger()
        self.users_per_client = users_per_client
        self.clients = [
            Client(LoadDriver(base_url, self.ledger, seed=n, local_address=f"127.0.1.{n + 1}"), [])
            for n in range(clients)
        ]
        # A client that never writes, with no cookies of a writer's: it reads others' writes.
        self.observer = LoadDriver(base_url, self.ledger, seed=99, local_address="127.0.1.250")

    async def close(self) -> None:
        for driver in [self.observer, *(client.driver for client in self.clients)]:
            await driver.close()

    async def populate(self) -> None:
        """Users for every client, and an article each, so that reads have something."""

        async def one(client: Client) -> None:
            while len(client.users) < self.users_per_client:
                user = await client.driver.register()
                if user is None:
                    raise RuntimeError(f"could not register: {client.driver.stats.others()}")
                client.users.append(user)
            for user in client.users:
                await client.driver.create_article(user)

        await asyncio.gather(*(one(client) for client in self.clients))

    @property
    def users(self) -> list[User]:
        return [user for client in self.clients for user in client.users]

    def records(self, since: float = 0.0) -> list[Record]:
        return [
            r for client in self.clients for r in client.driver.stats.records if r.started >= since
        ]

    async def run(self, stop: asyncio.Event) -> None:
        """One worker per user until ``stop``: faults/load.py's mix, plus logins."""

        async def worker(driver: LoadDriver, user: User) -> None:
            while not stop.is_set():
                if driver.rng.random() < LOGIN_SHARE:
                    await login(driver, user)
                else:
                    await driver.one_mixed_request(user)
                last = last_record()
                if last is not None and last.status not in (200, 201):
                    await asyncio.sleep(0.1 + driver.rng.random() * 0.1)  # back off

        await asyncio.gather(
            *(worker(client.driver, user) for client in self.clients for user in client.users)
        )

    async def burst(self, total: int) -> list[Record]:
        """``total`` mixed requests at once, spread over the clients; their records."""
        share = max(1, total // len(self.clients))
        bursts = await asyncio.gather(
            *(
                client.driver.burst(client.users, share, len(client.users))
                for client in self.clients
            )
        )
        return [record for burst in bursts for record in burst]

    async def read_own_writes(self) -> tuple[list[str], list[str]]:
        """Each client writes an article and reads it back at once, through the balancer
        (its cookies, if the service sets any, go with it): (the slugs written, the misses)."""

        async def one(client: Client) -> tuple[str | None, str | None]:
            slug = await client.driver.create_article(client.users[0])
            if slug is None:
                return None, None  # not acknowledged: nothing to read back
            status = await read(client.driver, slug, client.users[0])
            return slug, None if status == 200 else f"{slug}: {status or 'no answer'}"

        done = await asyncio.gather(*(one(client) for client in self.clients))
        return [s for s, _ in done if s], [m for _, m in done if m]

    async def read_others_writes(self, slugs: list[str]) -> list[str]:
        """Each of ``slugs`` read by the observer: the ones not seen."""
        statuses = [await read(self.observer, slug, None) for slug in slugs]
        return [
            f"{slug}: {s or 'no answer'}"
            for slug, s in zip(slugs, statuses, strict=True)
            if s != 200
        ]


async def read(driver: LoadDriver, slug: str, user: User | None) -> int | None:
    """The status of reading ``slug``: 200 saw the write, 404 missed it. A 5xx or no answer
    says neither, so the read is tried again after its Retry-After, as a client would (the
    5xx check still counts the failed tries); the last status counts."""
    for attempt in range(READ_ATTEMPTS):
        response = await driver.call("read a write", "GET", f"/api/articles/{slug}", user)
        if response is not None and response.status_code < 500:
            return response.status_code
        if attempt + 1 < READ_ATTEMPTS:
            retry_after = response.headers.get("Retry-After", "") if response is not None else ""
            await asyncio.sleep(min(1.0, float(retry_after) if retry_after.isdigit() else 0.5))
    return response.status_code if response is not None else None


async def login(driver: LoadDriver, user: User) -> None:
    payload = {"user": {"email": user.email, "password": PASSWORD}}
    await driver.call("login", "POST", "/api/users/login", None, payload)


def categories(records: list[Record]) -> Counter[str]:
    """2xx, 4xx, 500, 5xx (502/503/504: the balancer or an unreachable database), net."""
    counts: Counter[str] = Counter()
    for r in records:
        if r.status is None:
            counts["net"] += 1
        elif r.status == 500:
            counts["500"] += 1
        else:
            counts[f"{r.status // 100}xx"] += 1
    return counts
