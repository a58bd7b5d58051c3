from typing import Annotated

from fastapi import APIRouter, Response

from api.dependencies import RequiredCaller, service
from api.params import Limit, Offset, Slug
from api.responses import json_response
from api.schemas import MultipleArticlesResponse, SingleArticleResponse, errors
from api.serving import run_use_case
from application.bookmarks import BookmarkService
from application.read_models import DEFAULT_PAGE_SIZE

router = APIRouter(prefix="/api", tags=["Bookmarks"], responses=errors(401, 422, 503))
Bookmarks = Annotated[BookmarkService, service(BookmarkService)]


@router.post(
    "/articles/{slug}/bookmark", response_model=SingleArticleResponse, responses=errors(404)
)
async def bookmark(slug: Slug, caller: RequiredCaller, bookmarks: Bookmarks) -> Response:
    return json_response(SingleArticleResponse.of(await run_use_case(bookmarks.add, slug, caller)))


@router.delete(
    "/articles/{slug}/bookmark", response_model=SingleArticleResponse, responses=errors(404)
)
async def unbookmark(slug: Slug, caller: RequiredCaller, bookmarks: Bookmarks) -> Response:
    view = await run_use_case(bookmarks.remove, slug, caller)
    return json_response(SingleArticleResponse.of(view))


@router.get("/user/bookmarks", response_model=MultipleArticlesResponse)
async def reading_list(
    caller: RequiredCaller,
    bookmarks: Bookmarks,
    limit: Limit = DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> Response:
    page = await run_use_case(bookmarks.page, caller, limit, offset)
    return json_response(MultipleArticlesResponse.of(page))
