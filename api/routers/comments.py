from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.dependencies import OptionalCaller, RequiredCaller, service
from api.params import Slug
from api.responses import json_response, no_content
from api.schemas import (
    Comment,
    MultipleCommentsResponse,
    NewCommentRequest,
    SingleCommentResponse,
    errors,
)
from api.serving import run_use_case
from application.comments import CommentService

router = APIRouter(prefix="/api", tags=["Comments"], responses=errors(404, 422, 503))

Comments = Annotated[CommentService, service(CommentService)]

CommentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get(
    "/articles/{slug}/comments", response_model=MultipleCommentsResponse, responses=errors(401)
)
async def list_comments(slug: Slug, caller: OptionalCaller, comments: Comments) -> Response:
    views = await run_use_case(comments.for_article, slug, caller.user_id if caller else None)
    return json_response(MultipleCommentsResponse(comments=[Comment.of(v) for v in views]))


@router.post(
    "/articles/{slug}/comments",
    response_model=SingleCommentResponse,
    responses=errors(400, 401, 413),
)
async def add_comment(
    slug: Slug, request: NewCommentRequest, caller: RequiredCaller, comments: Comments
) -> Response:
    view = await run_use_case(comments.add, slug, caller, request.comment.body)
    return json_response(SingleCommentResponse(comment=Comment.of(view)))


@router.delete(
    "/articles/{slug}/comments/{comment_id}",
    status_code=204,
    responses=errors(401, 403),
)
async def delete_comment(
    slug: Slug, comment_id: CommentId, caller: RequiredCaller, comments: Comments
) -> Response:
    await run_use_case(comments.delete, slug, comment_id, caller)
    return no_content()
