"""Profiles: reading one, following and unfollowing."""

from application.caller import Caller
from application.read_models import ProfileView
from application.retry import retry_on_conflict
from application.unit_of_work import UnitOfWork
from application.users import require_account
from domain import messages
from domain.errors import Forbidden, NotFound


class ProfileService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def get(self, username: str, viewer_id: int | None) -> ProfileView:
        with self.uow:
            profile = self.uow.reads.profile(username, viewer_id)
        if profile is None:
            raise NotFound(messages.PROFILE_NOT_FOUND)
        return profile

    @retry_on_conflict
    def follow(self, caller: Caller, username: str) -> ProfileView:
        """Follow ``username`` (in any case); following twice is the same as once."""
        follower_id = caller.user_id
        with self.uow:
            require_account(self.uow, caller)
            followee = self.uow.users.get_by_username(username)
            if followee is None:
                raise NotFound(messages.PROFILE_NOT_FOUND)
            if followee.id == follower_id:
                raise Forbidden(messages.CANNOT_FOLLOW_YOURSELF)
            assert followee.id is not None
            self.uow.users.follow(follower_id, followee.id)
            self.uow.commit()
            return ProfileView(followee.username, followee.bio, followee.image, following=True)

    @retry_on_conflict
    def unfollow(self, caller: Caller, username: str) -> ProfileView:
        with self.uow:
            require_account(self.uow, caller)
            followee = self.uow.users.get_by_username(username)
            if followee is None:
                raise NotFound(messages.PROFILE_NOT_FOUND)
            assert followee.id is not None
            self.uow.users.unfollow(caller.user_id, followee.id)
            self.uow.commit()
            return ProfileView(followee.username, followee.bio, followee.image, following=False)
