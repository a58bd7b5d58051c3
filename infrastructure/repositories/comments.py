from sqlalchemy.orm import Session

from domain.comments import Comment
from infrastructure.orm import comments
from infrastructure.repositories.shared import delete_entity


class SqlAlchemyCommentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, comment: Comment) -> None:
        self.session.add(comment)
        self.session.flush()

    def get(self, comment_id: int) -> Comment | None:
        return self.session.get(Comment, comment_id)

    def remove(self, comment: Comment) -> None:
        delete_entity(self.session, comments, comment)
