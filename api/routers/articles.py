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
from application.articles import ArticleChanges, ArticleDraft, ArticleService
from application.read_models import DEFAULT_PAGE_SIZE, ArticleFilter

router = APIRouter(prefix="/api", tags=["Articles"], responses=errors(503))

Articles = Annotated[ArticleService, service(ArticleService)]


@router.get("/articles", response_model=MultipleArticlesResponse, responses=errors(401, 422))
def list_articles(
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
    page = articles.search(filters, caller.user_id if caller else None)
    return json_response(MultipleArticlesResponse.of(page))


@router.get("/articles/feed", response_model=MultipleArticlesResponse, responses=errors(401, 422))
def feed(
    caller: RequiredCaller,
    articles: Articles,
    limit: Limit = DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> Response:
    page = articles.feed(caller, limit, offset)
    return json_response(MultipleArticlesResponse.of(page))


@router.post(
    "/articles",
    status_code=201,
    response_model=SingleArticleResponse,
    responses=errors(400, 401, 413, 422),
)
def create_article(
    request: NewArticleRequest, caller: RequiredCaller, articles: Articles
) -> Response:
    new = request.article
    draft = ArticleDraft(
        title=new.title, description=new.description, body=new.body, tag_names=tuple(new.tagList)
    )
    view = articles.create(caller, draft)
    return json_response(SingleArticleResponse.of(view), status_code=201)


@router.get(
    "/articles/{slug}", response_model=SingleArticleResponse, responses=errors(401, 404, 422)
)
def get_article(slug: Slug, caller: OptionalCaller, articles: Articles) -> Response:
    return json_response(
        SingleArticleResponse.of(articles.get(slug, caller.user_id if caller else None))
    )


@router.put(
    "/articles/{slug}",
    response_model=SingleArticleResponse,
    responses=errors(400, 401, 403, 404, 413, 422),
)
def update_article(
    slug: Slug, request: UpdateArticleRequest, caller: RequiredCaller, articles: Articles
) -> Response:
    changes = ArticleChanges(**request.article.model_dump(exclude_none=True))
    return json_response(SingleArticleResponse.of(articles.update(slug, caller, changes)))


@router.delete("/articles/{slug}", status_code=204, responses=errors(401, 403, 404, 422))
def delete_article(slug: Slug, caller: RequiredCaller, articles: Articles) -> Response:
    articles.delete(slug, caller)
    return no_content()


@router.post(
    "/articles/{slug}/favorite",
    response_model=SingleArticleResponse,
    tags=["Favorites"],
    responses=errors(401, 404, 422),
)
def favorite(slug: Slug, caller: RequiredCaller, articles: Articles) -> Response:
    return json_response(SingleArticleResponse.of(articles.favorite(slug, caller)))


@router.delete(
    "/articles/{slug}/favorite",
    response_model=SingleArticleResponse,
    tags=["Favorites"],
    responses=errors(401, 404, 422),
)
def unfavorite(slug: Slug, caller: RequiredCaller, articles: Articles) -> Response:
    return json_response(SingleArticleResponse.of(articles.unfavorite(slug, caller)))


@router.get("/tags", response_model=TagsResponse, tags=["Tags"])
def list_tags(articles: Articles) -> Response:
    return json_response(TagsResponse(tags=articles.tags()))
