"""Comments on articles."""

from application.caller import Caller
from application.lookups import require_account, require_article
from application.ports import Clock
from application.read_models import CommentView
from application.retry import retry_on_conflict
from application.unit_of_work import UnitOfWork
from domain import messages
from domain.comments import Comment
from domain.errors import Forbidden, NotFound


class CommentService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def for_article(self, slug: str, viewer_id: int | None) -> list[CommentView]:
        with self.uow.read_only():
            views = self.uow.reads.comments(slug, viewer_id)
            if views is None:
                raise NotFound(messages.ARTICLE_NOT_FOUND)
        return views

    @retry_on_conflict
    def add(self, slug: str, caller: Caller, body: str) -> CommentView:
        author_id = caller.user_id
        with self.uow:
            require_account(self.uow, caller)
            article = require_article(self.uow, slug)
            assert article.id is not None
            comment = Comment.write(
                article_id=article.id, author_id=author_id, body=body, now=self.clock.now()
            )
            self.uow.comments.add(comment)
            assert comment.id is not None
            view = self.uow.reads.comment(comment.id, author_id)
            assert view is not None
            self.uow.commit()
        return view

    @retry_on_conflict
    def delete(self, slug: str, comment_id: int, caller: Caller) -> None:
        """Only the comment's author may delete it; the comment must be on this article."""
        with self.uow:
            # Deleting writes: a token of an ended session must not (one cheap statement).
            require_account(self.uow, caller)
            article = self.uow.articles.get_by_slug(slug)
            comment = self.uow.comments.get(comment_id)
            if article is None or comment is None or comment.article_id != article.id:
                raise NotFound(messages.COMMENT_NOT_FOUND)
            if not comment.is_written_by(caller.user_id):
                raise Forbidden(messages.ONLY_AUTHOR_DELETES_COMMENT)
            self.uow.comments.remove(comment)
            self.uow.commit()
