from domain.comments import Comment
from infrastructure.orm import comments
from infrastructure.repositories.shared import Store, delete_entity


class SqlAlchemyCommentRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, comment: Comment) -> None:
        self.store.session.add(comment)
        self.store.session.flush()

    def get(self, comment_id: int) -> Comment | None:
        return self.store.session.get(Comment, comment_id)

    def remove(self, comment: Comment) -> None:
        delete_entity(self.store, comments, comment)
