"""Every message a client is shown, in one place: what the API says is read and changed here.

In ``domain`` so that every layer may use it (the dependency rule points inward). Code and
tests refer to these names, never to a copy of the words.
"""

# -- values (domain.validation and the entities) --------------------------------------------


def not_a_string(field: str) -> str:
    return f"{field} must be a string"


def contains_nul(field: str) -> str:
    return f"{field} must not contain NUL characters"


def blank(field: str) -> str:
    return f"{field} can't be blank"


def too_long(field: str, max_length: int) -> str:
    return f"{field} is too long (maximum is {max_length} characters)"


EMAIL_INVALID = "email is invalid"
USERNAME_CHARACTERS = "username may contain only letters, digits, '_', '.' and '-'"


def too_many_tags(max_tags: int) -> str:
    return f"an article can have at most {max_tags} tags"


def page_limit(max_size: int) -> str:
    return f"limit must be between 1 and {max_size}"


NEGATIVE_OFFSET = "offset must not be negative"
# A path or query parameter with a NUL character (the parameter's name is said before it).
PARAMETER_CONTAINS_NUL = "must not contain NUL characters"

# -- what was asked for -------------------------------------------------------------------------

ARTICLE_NOT_FOUND = "article not found"
COMMENT_NOT_FOUND = "comment not found"
PROFILE_NOT_FOUND = "profile not found"
EMAIL_TAKEN = "email has already been taken"
USERNAME_TAKEN = "username has already been taken"
SLUG_TAKEN = "an article with this title was just written; please try again"
REFERENCE_GONE = "something this request refers to was just deleted"
UNSTORABLE_VALUE = "a value in this request cannot be stored or searched for"

# -- who may do it ------------------------------------------------------------------------------

ONLY_AUTHOR_CHANGES_ARTICLE = "only the author may change this article"
ONLY_AUTHOR_DELETES_COMMENT = "only the author may delete this comment"
CANNOT_FOLLOW_YOURSELF = "you cannot follow yourself"
WRONG_CREDENTIALS = "email or password is invalid"
TOKEN_INVALID = "token is invalid or expired"
TOKEN_USER_GONE = "the user of this token no longer exists"
SESSION_ENDED = "this session ended: please sign in again"
MALFORMED_AUTHORIZATION = "Authorization header must be 'Token <jwt>'"
AUTHENTICATION_REQUIRED = "authentication required: send 'Authorization: Token <jwt>'"
METRICS_TOKEN_REQUIRED = "metrics need 'Authorization: Bearer <METRICS_TOKEN>'"

# -- come back later ----------------------------------------------------------------------------

TOO_MANY_FAILED_LOGINS = "too many failed logins; please retry later"
TOO_MANY_FROM_ADDRESS = "too many requests from your address; please retry later"
SERVICE_BUSY = "the service is busy; please retry"
CONCURRENT_CHANGE = "another request changed the same data at the same time"
TOO_MANY_CONCURRENT_CHANGES = "too many concurrent changes to the same data; please retry"
DATABASE_CANNOT_SERVE = "the database cannot serve this request now; please retry"
NO_CONNECTION_FREE = "no database connection is free; please retry"
DATABASE_UNREACHABLE = "database unreachable"

# -- the request itself -------------------------------------------------------------------------

NOT_FOUND = "Not Found"
HEADERS_TOO_LARGE = "request headers are too large"
REQUEST_TOO_SLOW = "the request did not arrive in time"
TOO_MANY_CONNECTIONS = "too many connections; please retry"


def body_too_large(max_bytes: int) -> str:
    return f"request body is larger than {max_bytes} bytes"


def internal_error(request_id: str) -> str:
    return f"internal error (request id {request_id})"
