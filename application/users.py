"""Registration, login and the current user's account."""

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from application.caller import Caller
from application.errors import TooManyAttempts
from application.lookups import require_account_view, require_user
from application.ports import LoginAttempts, PasswordHasher, TokenService
from application.read_models import AuthenticatedUser, UserView
from application.retry import retry_on_conflict
from application.unit_of_work import UnitOfWork
from domain import messages
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


def caller_of(user: User) -> Caller:
    """The caller a token issued now for ``user`` names."""
    assert user.id is not None, "a stored user has an id"
    return Caller(user.id, user.token_generation)


@dataclass(frozen=True, slots=True)
class UpdatedUser:
    """The account after ``PUT /user``. ``token`` is a new one when the change ended the
    caller's session (a new password); ``None`` when the caller's token stays valid."""

    user: UserView
    token: str | None


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
            caller, view = caller_of(user), UserView.of(user)
            self.uow.commit()
        return AuthenticatedUser(user=view, token=self.tokens.issue(caller))

    def login(self, *, email: str, password: str) -> AuthenticatedUser:
        try:
            account = email = rules.normalize_email(email)
        except ValidationFailed:
            account, email = email, ""  # counted as asked for: it matches no account
        # Counted before anything else, so a locked account costs no query and no hashing,
        # and concurrent guesses cannot all slip in before the first failure is counted.
        if self.login_attempts is not None and (retry_after := self.login_attempts.admit(account)):
            raise TooManyAttempts(messages.TOO_MANY_FAILED_LOGINS, retry_after)
        with self.uow:
            user = self.uow.users.get_by_email(email) if email else None
            found = (caller_of(user), UserView.of(user), user.password_hash) if user else None
        # Verify after the transaction: hashing is slow and needs no connection.
        if found is None:
            self.hasher.verify(self._unknown_user_hash(), password)
            raise InvalidCredentials(messages.WRONG_CREDENTIALS)
        caller, view, password_hash = found
        if not self.hasher.verify(password_hash, password):
            raise InvalidCredentials(messages.WRONG_CREDENTIALS)
        if self.login_attempts is not None:
            self.login_attempts.succeeded(account)
        return AuthenticatedUser(user=view, token=self.tokens.issue(caller))

    def current(self, caller: Caller) -> UserView:
        with self.uow.read_only():
            view = require_account_view(self.uow, caller)
        return view

    @retry_on_conflict
    def update(self, caller: Caller, changes: UserChanges) -> UpdatedUser:
        """Change any of the fields; every value is checked before anything changes.

        A new password ends every session signed in before it, the caller's too, so the
        caller gets a new token; other changes keep the caller's token valid (clients, the
        official collection among them, go on using it after changing name or email).
        """
        email = rules.normalize_email(changes.email) if changes.email is not None else None
        username = rules.check_username(changes.username) if changes.username is not None else None
        bio = rules.check_bio(changes.bio) if changes.bio is not None else None
        image = rules.check_image(changes.image) if changes.image is not None else None
        new_hash = None
        if changes.password is not None:
            new_hash = self.hasher.hash(rules.check_password(changes.password))
        with self.uow:
            # A password change locks the account: the next one then sees its generation, and
            # its session (ended by this one) is refused instead of starting a second.
            user = require_user(self.uow, caller, for_update=new_hash is not None)
            self._ensure_free(
                email=email if email != user.email else None,
                username=username if username != user.username else None,
                owner_id=user.id,
            )
            user.email = email if email is not None else user.email
            user.username = username if username is not None else user.username
            if new_hash is not None:
                user.change_password(new_hash)
            user.bio = bio if bio is not None else user.bio
            user.image = image if image is not None else user.image
            self.uow.users.save(user)
            view, now = UserView.of(user), caller_of(user)
            self.uow.commit()
        return UpdatedUser(view, self.tokens.issue(now) if now != caller else None)

    def _ensure_free(
        self, *, email: str | None, username: str | None, owner_id: int | None = None
    ) -> None:
        """A friendly early check; the unique constraints stay the truth under races.

        Usernames are compared in any case, so the user ``owner_id`` may change the case
        of their own name; nobody may take another's in another case.
        """
        taken = []
        if email is not None and self._other(self.uow.users.get_by_email(email), owner_id):
            taken.append(messages.EMAIL_TAKEN)
        if username is not None and self._other(self.uow.users.get_by_username(username), owner_id):
            taken.append(messages.USERNAME_TAKEN)
        if taken:
            raise AlreadyExists(*taken)

    @staticmethod
    def _other(found: User | None, owner_id: int | None) -> bool:
        return found is not None and found.id != owner_id

    def _unknown_user_hash(self) -> str:
        if self.hasher not in _unknown_user_hashes:
            _unknown_user_hashes[self.hasher] = self.hasher.hash(_UNKNOWN_USER_PASSWORD)
        return _unknown_user_hashes[self.hasher]
