from typing import Annotated

from fastapi import APIRouter, Response

from api.dependencies import OptionalCaller, RequiredCaller, service
from api.params import Limit, Offset, SearchTerm, Slug
from api.responses import json_response, no_content
from api.schemas import (
    MultipleArticlesResponse,
    NewArticleRequest,
    SingleArticleResponse,
    TagsResponse,
    UpdateArticleRequest,
    errors,
)
from api.serving import run_use_case
from application.articles import ArticleChanges, ArticleDraft, ArticleService
from application.read_models import DEFAULT_PAGE_SIZE, ArticleFilter

router = APIRouter(prefix="/api", tags=["Articles"], responses=errors(503))

Articles = Annotated[ArticleService, service(ArticleService)]


@router.get("/articles", response_model=MultipleArticlesResponse, responses=errors(401, 422))
async def list_articles(
    caller: OptionalCaller,
    articles: Articles,
    tag: SearchTerm = None,
    author: SearchTerm = None,
    favorited: SearchTerm = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> Response:
    filters = ArticleFilter(
        tag=tag, author=author, favorited_by=favorited, limit=limit, offset=offset
    )
    page = await run_use_case(articles.search, filters, caller.user_id if caller else None)
    return json_response(MultipleArticlesResponse.of(page))


@router.get("/articles/feed", response_model=MultipleArticlesResponse, responses=errors(401, 422))
async def feed(
    caller: RequiredCaller,
    articles: Articles,
    limit: Limit = DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> Response:
    page = await run_use_case(articles.feed, caller, limit, offset)
    return json_response(MultipleArticlesResponse.of(page))


@router.post(
    "/articles",
    status_code=201,
    response_model=SingleArticleResponse,
    responses=errors(400, 401, 413, 422),
)
async def create_article(
    request: NewArticleRequest, caller: RequiredCaller, articles: Articles
) -> Response:
    new = request.article
    draft = ArticleDraft(
        title=new.title, description=new.description, body=new.body, tag_names=tuple(new.tagList)
    )
    view = await run_use_case(articles.create, caller, draft)
    return json_response(SingleArticleResponse.of(view), status_code=201)


@router.get(
    "/articles/{slug}", response_model=SingleArticleResponse, responses=errors(401, 404, 422)
)
async def get_article(slug: Slug, caller: OptionalCaller, articles: Articles) -> Response:
    view = await run_use_case(articles.get, slug, caller.user_id if caller else None)
    return json_response(SingleArticleResponse.of(view))


@router.put(
    "/articles/{slug}",
    response_model=SingleArticleResponse,
    responses=errors(400, 401, 403, 404, 413, 422),
)
async def update_article(
    slug: Slug, request: UpdateArticleRequest, caller: RequiredCaller, articles: Articles
) -> Response:
    changes = ArticleChanges(**request.article.model_dump(exclude_none=True))
    return json_response(
        SingleArticleResponse.of(await run_use_case(articles.update, slug, caller, changes))
    )


@router.delete("/articles/{slug}", status_code=204, responses=errors(401, 403, 404, 422))
async def delete_article(slug: Slug, caller: RequiredCaller, articles: Articles) -> Response:
    await run_use_case(articles.delete, slug, caller)
    return no_content()


@router.post(
    "/articles/{slug}/favorite",
    response_model=SingleArticleResponse,
    tags=["Favorites"],
    responses=errors(401, 404, 422),
)
async def favorite(slug: Slug, caller: RequiredCaller, articles: Articles) -> Response:
    return json_response(
        SingleArticleResponse.of(await run_use_case(articles.favorite, slug, caller))
    )


@router.delete(
    "/articles/{slug}/favorite",
    response_model=SingleArticleResponse,
    tags=["Favorites"],
    responses=errors(401, 404, 422),
)
async def unfavorite(slug: Slug, caller: RequiredCaller, articles: Articles) -> Response:
    view = await run_use_case(articles.unfavorite, slug, caller)
    return json_response(SingleArticleResponse.of(view))


@router.get("/tags", response_model=TagsResponse, tags=["Tags"])
async def list_tags(articles: Articles) -> Response:
    return json_response(TagsResponse(tags=await run_use_case(articles.tags)))
