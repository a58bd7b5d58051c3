from typing import Annotated

from fastapi import APIRouter, Response

from api.dependencies import RequiredCaller, service
from api.params import Limit, Offset, Slug
from api.responses import json_response
from api.schemas import MultipleArticlesResponse, SingleArticleResponse, errors
from application.bookmarks import BookmarkService
from application.read_models import DEFAULT_PAGE_SIZE

router = APIRouter(prefix="/api", tags=["Bookmarks"], responses=errors(401, 422, 503))
Bookmarks = Annotated[BookmarkService, service(BookmarkService)]


@router.post(
    "/articles/{slug}/bookmark", response_model=SingleArticleResponse, responses=errors(404)
)
def bookmark(slug: Slug, caller: RequiredCaller, bookmarks: Bookmarks) -> Response:
    return json_response(SingleArticleResponse.of(bookmarks.add(slug, caller)))


@router.delete(
    "/articles/{slug}/bookmark", response_model=SingleArticleResponse, responses=errors(404)
)
def unbookmark(slug: Slug, caller: RequiredCaller, bookmarks: Bookmarks) -> Response:
    return json_response(SingleArticleResponse.of(bookmarks.remove(slug, caller)))


@router.get("/user/bookmarks", response_model=MultipleArticlesResponse)
def reading_list(
    caller: RequiredCaller,
    bookmarks: Bookmarks,
    limit: Limit = DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> Response:
    return json_response(MultipleArticlesResponse.of(bookmarks.page(caller, limit, offset)))
