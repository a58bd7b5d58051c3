from functools import cache

from sqlalchemy import Select, bindparam, delete, exists, func, select

from domain.users import User, username_key
from infrastructure.orm import follows, users
from infrastructure.repositories.shared import Store, insert_ignoring_duplicates
from infrastructure.statements import Statement

# Built once with bound parameters (see repositories/articles.py).
_USER_EXISTS = Statement(
    select(
        exists().where(
            users.c.id == bindparam("user_id"),
            users.c.token_generation == bindparam("token_generation"),
        )
    )
)
_UNFOLLOW = Statement(
    delete(follows).where(
        follows.c.follower_id == bindparam("fan_id"), follows.c.followee_id == bindparam("idol_id")
    )
)


@cache
def _by(column: str) -> Select[User]:
    """Users by a unique column; built on first use (the mapping is made at start-up).

    The username is compared as ``lower(username)``, the expression its unique index is on.
    """
    key = func.lower(users.c.username) if column == "username" else users.c[column]
    return select(User).where(key == bindparam("value"))


class SqlAlchemyUserRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, user: User) -> None:
        self.store.session.add(user)
        self.store.session.flush()

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        # FOR UPDATE on PostgreSQL; SQLite's write transactions begin IMMEDIATE (serial).
        return self.store.session.get(User, user_id, with_for_update=for_update or None)

    def save(self, user: User) -> None:
        self.store.session.flush()

    def exists(self, user_id: int, token_generation: int) -> bool:
        # No entity: a third of the cost of get() (bench: 0.09 vs 0.22 ms in process).
        parameters = {"user_id": user_id, "token_generation": token_generation}
        return bool(_USER_EXISTS.scalar(self.store.connection(), parameters))

    def get_by_email(self, email: str) -> User | None:
        return self.store.session.scalars(_by("email"), {"value": email}).one_or_none()

    def get_by_username(self, username: str) -> User | None:
        return self.store.session.scalars(
            _by("username"), {"value": username_key(username)}
        ).one_or_none()

    def follow(self, follower_id: int, followee_id: int) -> None:
        insert_ignoring_duplicates(
            self.store.connection(),
            follows,
            [{"follower_id": follower_id, "followee_id": followee_id}],
        )

    def unfollow(self, follower_id: int, followee_id: int) -> None:
        _UNFOLLOW.run(self.store.connection(), {"fan_id": follower_id, "idol_id": followee_id})
