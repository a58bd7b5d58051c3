from fastapi import APIRouter, Response

from api.dependencies import OptionalCaller, Profiles, RequiredCaller
from api.params import Username
from api.responses import json_response
from api.schemas import Profile, ProfileResponse

router = APIRouter(prefix="/api", tags=["Profile"])


@router.get("/profiles/{username}", response_model=ProfileResponse)
def get_profile(username: Username, caller: OptionalCaller, profiles: Profiles) -> Response:
    view = profiles.get(username, caller.user_id if caller else None)
    return json_response(ProfileResponse(profile=Profile.of(view)))


@router.post("/profiles/{username}/follow", response_model=ProfileResponse)
def follow(username: Username, caller: RequiredCaller, profiles: Profiles) -> Response:
    return json_response(
        ProfileResponse(profile=Profile.of(profiles.follow(caller.user_id, username)))
    )


@router.delete("/profiles/{username}/follow", response_model=ProfileResponse)
def unfollow(username: Username, caller: RequiredCaller, profiles: Profiles) -> Response:
    view = profiles.unfollow(caller.user_id, username)
    return json_response(ProfileResponse(profile=Profile.of(view)))
