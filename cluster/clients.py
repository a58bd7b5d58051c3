"""The cluster's load: several clients, each from a loopback address of its own (nginx
limits sign-ups and logins per address, as it should for real clients), sharing one ledger
of acknowledged writes (faults/load.py's driver and ledger)."""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

from load import PASSWORD, Ledger, LoadDriver, Record, User, last_record

LOGIN_SHARE = 0.03  # of the mixed requests; the rest is faults/load.py's mix


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

    async def close(self) -> None:
        for client in self.clients:
            await client.driver.close()

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

    async def read_own_write(self) -> tuple[bool, str]:
        """Each client writes an article and reads it back at once, through the balancer
        (its cookies, if the service sets any, go with it): all read back, or which not."""

        async def one(client: Client) -> str | None:
            slug = await client.driver.create_article(client.users[0])
            if slug is None:
                return None  # not acknowledged: nothing to read back
            response = await client.driver.call(
                "read own write", "GET", f"/api/articles/{slug}", client.users[0]
            )
            if response is None or response.status_code != 200:
                return f"{slug}: {response.status_code if response else 'no answer'}"
            return None

        misses = [m for m in await asyncio.gather(*(one(c) for c in self.clients)) if m]
        return not misses, "; ".join(misses) or f"{len(self.clients)} clients read their writes"

    async def read_others_write(self, slug: str) -> int | None:
        """A client that did not write ``slug`` (anonymous) reads it: the status."""
        response = await self.clients[-1].driver.call(
            "read others' write", "GET", f"/api/articles/{slug}"
        )
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


def now() -> float:
    return time.monotonic()
