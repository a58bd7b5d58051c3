"""Profiles: reading one, following and unfollowing."""

from application.caller import Caller
from application.lookups import require_account, require_profile, require_profile_user
from application.read_models import ProfileView
from application.retry import retry_on_conflict
from application.unit_of_work import UnitOfWork
from domain import messages
from domain.errors import Forbidden


class ProfileService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def get(self, username: str, viewer_id: int | None) -> ProfileView:
        with self.uow.read_only():
            view = require_profile(self.uow, username, viewer_id)
        return view

    @retry_on_conflict
    def follow(self, caller: Caller, username: str) -> ProfileView:
        """Follow ``username`` (in any case); following twice is the same as once."""
        follower_id = caller.user_id
        with self.uow:
            require_account(self.uow, caller)
            followee = require_profile_user(self.uow, username)
            if followee.id == follower_id:
                raise Forbidden(messages.CANNOT_FOLLOW_YOURSELF)
            assert followee.id is not None
            self.uow.users.follow(follower_id, followee.id)
            view = ProfileView(followee.username, followee.bio, followee.image, following=True)
            self.uow.commit()
        return view

    @retry_on_conflict
    def unfollow(self, caller: Caller, username: str) -> ProfileView:
        with self.uow:
            require_account(self.uow, caller)
            followee = require_profile_user(self.uow, username)
            assert followee.id is not None
            self.uow.users.unfollow(caller.user_id, followee.id)
            view = ProfileView(followee.username, followee.bio, followee.image, following=False)
            self.uow.commit()
        return view
