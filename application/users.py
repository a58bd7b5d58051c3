"""Registration, login and the current user's account."""

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from application.errors import NotAuthenticated, TooManyAttempts
from application.ports import LoginAttempts, PasswordHasher, TokenService
from application.read_models import AuthenticatedUser, UserView
from application.retry import retry_on_conflict
from application.unit_of_work import UnitOfWork
from domain import users as rules
from domain.errors import AlreadyExists, InvalidCredentials, ValidationFailed
from domain.users import User

# Verified against when the email is unknown, so a login takes as long for an unknown
# email as for a wrong password (no timing oracle). Hashed once per hasher, not per request.
_UNKNOWN_USER_PASSWORD = "an unguessable password that no user has"
_unknown_user_hashes: "WeakKeyDictionary[PasswordHasher, str]" = WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class UserChanges:
    """The fields ``PUT /user`` may change; ``None`` leaves a field as it is."""

    email: str | None = None
    username: str | None = None
    password: str | None = None
    bio: str | None = None
    image: str | None = None


def _view(user: User) -> UserView:
    return UserView(email=user.email, username=user.username, bio=user.bio, image=user.image)


_GONE = "the user of this token no longer exists"


def require_user(uow: UnitOfWork, user_id: int) -> User:
    """The caller's account; a token can outlive its user, and then it no longer counts."""
    user = uow.users.get(user_id)
    if user is None:
        raise NotAuthenticated(_GONE)
    return user


def require_account(uow: UnitOfWork, user_id: int) -> None:
    """As ``require_user``, for use cases that act for the caller but need nothing of theirs."""
    if not uow.users.exists(user_id):
        raise NotAuthenticated(_GONE)


def _identity(user: User) -> tuple[int, UserView]:
    assert user.id is not None, "a stored user has an id"
    return user.id, _view(user)


class UserService:
    """Use cases of the user aggregate: register, log in, read and update the current user."""

    def __init__(
        self,
        uow: UnitOfWork,
        hasher: PasswordHasher,
        tokens: TokenService,
        *,
        login_attempts: LoginAttempts | None = None,
    ) -> None:
        """``login_attempts`` limits failed logins per account; ``None``: no limit."""
        self.uow = uow
        self.hasher = hasher
        self.tokens = tokens
        self.login_attempts = login_attempts

    @retry_on_conflict
    def register(self, *, username: str, email: str, password: str) -> AuthenticatedUser:
        rules.check_password(password)
        user = User.register(username=username, email=email, password_hash="")  # set below
        # A registration that will be refused (a double submit; a burst with one email) is
        # refused before it pays for the hash: about 0.3 s of CPU, in the lane it shares
        # with every login (api.middleware.Admission).
        with self.uow:
            self._ensure_free(email=user.email, username=user.username)
        # Hash between the transactions: it is the slow part and needs no connection.
        user.password_hash = self.hasher.hash(password)
        with self.uow:
            self._ensure_free(email=user.email, username=user.username)
            self.uow.users.add(user)
            self.uow.commit()
            user_id, view = _identity(user)
        return AuthenticatedUser(user=view, token=self.tokens.issue(user_id))

    def login(self, *, email: str, password: str) -> AuthenticatedUser:
        try:
            account = email = rules.normalize_email(email)
        except ValidationFailed:
            account, email = email, ""  # counted as asked for: it matches no account
        # Counted before anything else, so a locked account costs no query and no hashing,
        # and concurrent guesses cannot all slip in before the first failure is counted.
        if self.login_attempts is not None and (retry_after := self.login_attempts.admit(account)):
            raise TooManyAttempts("too many failed logins; please retry later", retry_after)
        with self.uow:
            user = self.uow.users.get_by_email(email) if email else None
            found = (_identity(user), user.password_hash) if user is not None else None
        # Verify after the transaction: hashing is slow and needs no connection.
        if found is None:
            self.hasher.verify(self._unknown_user_hash(), password)
            raise InvalidCredentials("email or password is invalid")
        (user_id, view), password_hash = found
        if not self.hasher.verify(password_hash, password):
            raise InvalidCredentials("email or password is invalid")
        if self.login_attempts is not None:
            self.login_attempts.succeeded(account)
        return AuthenticatedUser(user=view, token=self.tokens.issue(user_id))

    def current(self, user_id: int) -> UserView:
        with self.uow:
            return _view(require_user(self.uow, user_id))

    @retry_on_conflict
    def update(self, user_id: int, changes: UserChanges) -> UserView:
        """Change any of the fields; every value is checked before anything changes."""
        email = rules.normalize_email(changes.email) if changes.email is not None else None
        username = rules.check_username(changes.username) if changes.username is not None else None
        bio = rules.check_bio(changes.bio) if changes.bio is not None else None
        image = rules.check_image(changes.image) if changes.image is not None else None
        new_hash = None
        if changes.password is not None:
            new_hash = self.hasher.hash(rules.check_password(changes.password))
        with self.uow:
            user = require_user(self.uow, user_id)
            self._ensure_free(
                email=email if email != user.email else None,
                username=username if username != user.username else None,
            )
            user.email = email if email is not None else user.email
            user.username = username if username is not None else user.username
            user.password_hash = new_hash if new_hash is not None else user.password_hash
            user.bio = bio if bio is not None else user.bio
            user.image = image if image is not None else user.image
            self.uow.commit()
            return _view(user)

    def _ensure_free(self, *, email: str | None, username: str | None) -> None:
        """A friendly early check; the unique constraints stay the truth under races."""
        taken = []
        if email is not None and self.uow.users.get_by_email(email) is not None:
            taken.append("email has already been taken")
        if username is not None and self.uow.users.get_by_username(username) is not None:
            taken.append("username has already been taken")
        if taken:
            raise AlreadyExists(*taken)

    def _unknown_user_hash(self) -> str:
        if self.hasher not in _unknown_user_hashes:
            _unknown_user_hashes[self.hasher] = self.hasher.hash(_UNKNOWN_USER_PASSWORD)
        return _unknown_user_hashes[self.hasher]
