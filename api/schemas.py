"""Request and response bodies, exactly as the RealWorld spec names them (camelCase).

Every rule the domain holds a request's values to is stated here too, so the OpenAPI
document says what the server enforces: the lengths, and as ``pattern`` no NUL character,
not blank, a username's characters, an email's shape. Each field is checked as the body is
read by the domain's own rule (``_rule``), which refuses with the domain's message; the
domain checks again for callers that are not HTTP.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypedDict

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

from application.read_models import ArticlePage, ArticleView, CommentView, ProfileView, UserView
from domain import articles, comments, users
from domain.articles import BODY_MAX, DESCRIPTION_MAX, TAG_MAX, TAGS_PER_ARTICLE_MAX, TITLE_MAX
from domain.comments import COMMENT_MAX
from domain.errors import ValidationFailed
from domain.users import BIO_MAX, EMAIL_MAX, IMAGE_MAX, PASSWORD_MAX, USERNAME_MAX


def _timestamp(moment: datetime) -> str:
    # Always with milliseconds and "Z": clients (and the official tests) parse exactly this.
    # Formatted by hand: 0.8 µs, against 1.4 for isoformat(timespec=...) and more for
    # strftime, and a list page shows 40 of them.
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031  # faster than f-strings here
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond // 1000,
    )


Timestamp = Annotated[datetime, PlainSerializer(_timestamp, return_type=str)]

# The pydantic error type of a domain rule: ``api.errors`` shows its message as it is (it
# names the field already), as it would the domain's own ``ValidationFailed``.
RULE_ERROR = "conduit_rule"

# The rules as JSON Schema patterns (ECMA-262, as OpenAPI says; Python reads them alike).
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^\s*[^\s\x00][^\x00]*$"  # a character that is not a space, and no NUL
# domain.users.EMAIL_PATTERN, within the spaces it trims, without NUL.
EMAIL = r"^\s*[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+\s*$"


def _rule(check: Callable[[str], object]) -> AfterValidator:
    """The domain's rule ``check`` for a string field, refusing with the domain's message."""

    def validate(value: str) -> str:
        try:
            check(value)
        except ValidationFailed as refused:
            raise PydanticCustomError(RULE_ERROR, "; ".join(refused.messages)) from None
        return value

    return AfterValidator(validate)


def _stated(pattern: str, max_length: int, min_length: int | None = None) -> Any:
    """The rule as the document states it. Lengths are checked before the rule is (with
    pydantic's message, as they always were)."""
    return Field(
        min_length=min_length, max_length=max_length, json_schema_extra={"pattern": pattern}
    )


_USERNAME = _rule(users.check_username)
_EMAIL = _rule(users.normalize_email)
_PASSWORD = _rule(users.check_password)

# Changed by the user update, where an empty value reaches the rule (and its message).
Username = Annotated[str, _stated(users.USERNAME_PATTERN, USERNAME_MAX), _USERNAME]
# An email is trimmed before its length is checked (domain.users.normalize_email).
Email = Annotated[str, _stated(EMAIL, EMAIL_MAX + 64), _EMAIL]
Password = Annotated[str, _stated(NOT_BLANK, PASSWORD_MAX), _PASSWORD]
Bio = Annotated[str, _stated(NO_NUL, BIO_MAX), _rule(users.check_bio)]
Image = Annotated[str, _stated(NO_NUL, IMAGE_MAX), _rule(users.check_image)]
# Given at registration, where an empty value is refused by its length.
NewUsername = Annotated[str, _stated(users.USERNAME_PATTERN, USERNAME_MAX, 1), _USERNAME]
NewEmail = Annotated[str, _stated(EMAIL, EMAIL_MAX + 64, 1), _EMAIL]
NewPassword = Annotated[str, _stated(NOT_BLANK, PASSWORD_MAX, 1), _PASSWORD]

Title = Annotated[str, _stated(NOT_BLANK, TITLE_MAX, 1), _rule(articles.check_title)]
Description = Annotated[
    str, _stated(NOT_BLANK, DESCRIPTION_MAX, 1), _rule(articles.check_description)
]
ArticleBody = Annotated[str, _stated(NOT_BLANK, BODY_MAX, 1), _rule(articles.check_body)]
# A blank tag is dropped, not refused.
TagName = Annotated[
    str, _stated(NO_NUL, TAG_MAX), _rule(lambda tag: articles.normalize_tags([tag]))
]
CommentBody = Annotated[str, _stated(NOT_BLANK, COMMENT_MAX, 1), _rule(comments.check_comment_body)]


class Body(BaseModel):
    """A request body: unknown fields are ignored, as the spec's clients send extras."""

    model_config = ConfigDict(extra="ignore")


# -- requests ------------------------------------------------------------------------------


class LoginUser(Body):
    # Any email and password may be tried: what does not match an account is a 401.
    email: Annotated[str, Field(max_length=EMAIL_MAX + 64)]
    password: Annotated[str, Field(max_length=PASSWORD_MAX)]


class LoginUserRequest(Body):
    user: LoginUser


class NewUser(Body):
    username: NewUsername
    email: NewEmail
    password: NewPassword


class NewUserRequest(Body):
    user: NewUser


class UpdateUser(Body):
    email: Email | None = None
    username: Username | None = None
    password: Password | None = None
    bio: Bio | None = None
    image: Image | None = None


class UpdateUserRequest(Body):
    user: UpdateUser


class NewArticle(Body):
    title: Title
    description: Description
    body: ArticleBody
    tagList: Annotated[list[TagName], Field(max_length=TAGS_PER_ARTICLE_MAX)] = []


class NewArticleRequest(Body):
    article: NewArticle


class UpdateArticle(Body):
    title: Title | None = None
    description: Description | None = None
    body: ArticleBody | None = None


class UpdateArticleRequest(Body):
    article: UpdateArticle


class NewComment(Body):
    body: CommentBody


class NewCommentRequest(Body):
    comment: NewComment


# -- responses -----------------------------------------------------------------------------


class User(BaseModel):
    email: str
    token: str
    username: str
    bio: str
    image: str


class UserResponse(BaseModel):
    user: User

    @classmethod
    def of(cls, view: UserView, token: str) -> "UserResponse":
        return cls(
            user=User(
                email=view.email,
                token=token,
                username=view.username,
                bio=view.bio,
                image=view.image,
            )
        )


class Profile(BaseModel):
    username: str
    bio: str
    image: str
    following: bool

    @classmethod
    def of(cls, view: ProfileView) -> "Profile":
        return cls(username=view.username, bio=view.bio, image=view.image, following=view.following)


class ProfileResponse(BaseModel):
    profile: Profile


class ArticleInList(BaseModel):
    slug: str
    title: str
    description: str
    tagList: list[str]
    createdAt: Timestamp
    updatedAt: Timestamp
    favorited: bool
    favoritesCount: int
    author: Profile


class Article(ArticleInList):
    body: str

    @classmethod
    def of(cls, view: ArticleView) -> "Article":
        return cls(body=view.body or "", **_article_fields(view))


class _ArticleFields(TypedDict):
    """An ``ArticleInList``'s fields as keywords: typed, so the checker matches them to the
    model's (a field missing here, or of another type, is an error)."""

    slug: str
    title: str
    description: str
    tagList: list[str]
    createdAt: datetime
    updatedAt: datetime
    favorited: bool
    favoritesCount: int
    author: Profile


def _article_fields(view: ArticleView) -> _ArticleFields:
    return {
        "slug": view.slug,
        "title": view.title,
        "description": view.description,
        "tagList": list(view.tag_list),
        "createdAt": view.created_at,
        "updatedAt": view.updated_at,
        "favorited": view.favorited,
        "favoritesCount": view.favorites_count,
        "author": Profile.of(view.author),
    }


class SingleArticleResponse(BaseModel):
    article: Article

    @classmethod
    def of(cls, view: ArticleView) -> "SingleArticleResponse":
        return cls(article=Article.of(view))


class MultipleArticlesResponse(BaseModel):
    articles: list[ArticleInList]
    articlesCount: int

    @classmethod
    def of(cls, page: ArticlePage) -> "MultipleArticlesResponse":
        return cls(
            articles=[ArticleInList(**_article_fields(view)) for view in page.articles],
            articlesCount=page.total,
        )


class Comment(BaseModel):
    id: int
    createdAt: Timestamp
    updatedAt: Timestamp
    body: str
    author: Profile

    @classmethod
    def of(cls, view: CommentView) -> "Comment":
        return cls(
            id=view.id,
            createdAt=view.created_at,
            updatedAt=view.updated_at,
            body=view.body,
            author=Profile.of(view.author),
        )


class SingleCommentResponse(BaseModel):
    comment: Comment


class MultipleCommentsResponse(BaseModel):
    comments: list[Comment]


class TagsResponse(BaseModel):
    tags: list[str]


class GenericErrorBody(BaseModel):
    body: list[str]


class GenericErrorModel(BaseModel):
    errors: GenericErrorBody


_WHY = {
    400: "The body is not JSON (malformed, not UTF-8, nested too deeply).",
    401: "Wrong credentials, or a missing, invalid or expired token.",
    403: "Only the author may do this.",
    404: "What the path names does not exist.",
    429: "Too many attempts; retry after Retry-After.",
    413: "The body is larger than MAX_BODY_BYTES.",
    422: "A value is invalid, or an email, username or slug is taken.",
    503: "The service is busy or the database unreachable; retry after Retry-After.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses=`` for these error statuses: all have the spec's error body."""
    return {
        status: {"model": GenericErrorModel, "description": _WHY[status]} for status in statuses
    }
