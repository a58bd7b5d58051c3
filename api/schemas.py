"""Request and response bodies, exactly as the RealWorld spec names them (camelCase).

Length limits here mirror the domain's, so an oversized field is refused with 422 before
any use case runs; the domain checks them again for callers that are not HTTP.
"""

from datetime import UTC, datetime
from typing import Annotated, TypedDict

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from application.read_models import ArticleView, CommentView, ProfileView, UserView
from domain.articles import BODY_MAX, DESCRIPTION_MAX, TAG_MAX, TAGS_PER_ARTICLE_MAX, TITLE_MAX
from domain.comments import COMMENT_MAX
from domain.users import BIO_MAX, EMAIL_MAX, IMAGE_MAX, PASSWORD_MAX, USERNAME_MAX


def _timestamp(moment: datetime) -> str:
    # Always with milliseconds and "Z": clients (and the official tests) parse exactly this.
    # isoformat is about twice as fast as strftime; in UTC it always ends in "+00:00".
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


Timestamp = Annotated[datetime, PlainSerializer(_timestamp, return_type=str)]


class Body(BaseModel):
    """A request body: unknown fields are ignored, as the spec's clients send extras."""

    model_config = ConfigDict(extra="ignore")


# -- requests ------------------------------------------------------------------------------


class LoginUser(Body):
    email: Annotated[str, Field(max_length=EMAIL_MAX + 64)]
    password: Annotated[str, Field(max_length=PASSWORD_MAX)]


class LoginUserRequest(Body):
    user: LoginUser


class NewUser(Body):
    username: Annotated[str, Field(min_length=1, max_length=USERNAME_MAX)]
    email: Annotated[str, Field(min_length=1, max_length=EMAIL_MAX + 64)]
    password: Annotated[str, Field(min_length=1, max_length=PASSWORD_MAX)]


class NewUserRequest(Body):
    user: NewUser


class UpdateUser(Body):
    email: Annotated[str | None, Field(max_length=EMAIL_MAX + 64)] = None
    username: Annotated[str | None, Field(max_length=USERNAME_MAX)] = None
    password: Annotated[str | None, Field(max_length=PASSWORD_MAX)] = None
    bio: Annotated[str | None, Field(max_length=BIO_MAX)] = None
    image: Annotated[str | None, Field(max_length=IMAGE_MAX)] = None


class UpdateUserRequest(Body):
    user: UpdateUser


class NewArticle(Body):
    title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX)]
    description: Annotated[str, Field(min_length=1, max_length=DESCRIPTION_MAX)]
    body: Annotated[str, Field(min_length=1, max_length=BODY_MAX)]
    tagList: Annotated[
        list[Annotated[str, Field(max_length=TAG_MAX)]], Field(max_length=TAGS_PER_ARTICLE_MAX)
    ] = []


class NewArticleRequest(Body):
    article: NewArticle


class UpdateArticle(Body):
    title: Annotated[str | None, Field(min_length=1, max_length=TITLE_MAX)] = None
    description: Annotated[str | None, Field(min_length=1, max_length=DESCRIPTION_MAX)] = None
    body: Annotated[str | None, Field(min_length=1, max_length=BODY_MAX)] = None


class UpdateArticleRequest(Body):
    article: UpdateArticle


class NewComment(Body):
    body: Annotated[str, Field(min_length=1, max_length=COMMENT_MAX)]


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


class MultipleArticlesResponse(BaseModel):
    articles: list[ArticleInList]
    articlesCount: int

    @classmethod
    def of(cls, views: tuple[ArticleView, ...], total: int) -> "MultipleArticlesResponse":
        return cls(
            articles=[ArticleInList(**_article_fields(view)) for view in views],
            articlesCount=total,
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
    409: "A concurrent request changed the same data; retry.",
    413: "The body is larger than MAX_BODY_BYTES.",
    422: "A value is invalid, or an email, username or slug is taken.",
    503: "The service is busy or the database unreachable; retry after Retry-After.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses=`` for these error statuses: all have the spec's error body."""
    return {
        status: {"model": GenericErrorModel, "description": _WHY[status]} for status in statuses
    }
