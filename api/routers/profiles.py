from typing import Annotated

from fastapi import APIRouter, Response

from api.dependencies import OptionalCaller, RequiredCaller, service
from api.params import Username
from api.responses import json_response
from api.schemas import Profile, ProfileResponse, errors
from application.profiles import ProfileService

router = APIRouter(prefix="/api", tags=["Profile"], responses=errors(404, 422, 503))

Profiles = Annotated[ProfileService, service(ProfileService)]


@router.get("/profiles/{username}", response_model=ProfileResponse, responses=errors(401))
def get_profile(username: Username, caller: OptionalCaller, profiles: Profiles) -> Response:
    view = profiles.get(username, caller.user_id if caller else None)
    return json_response(ProfileResponse(profile=Profile.of(view)))


@router.post(
    "/profiles/{username}/follow", response_model=ProfileResponse, responses=errors(401, 403)
)
def follow(username: Username, caller: RequiredCaller, profiles: Profiles) -> Response:
    return json_response(ProfileResponse(profile=Profile.of(profiles.follow(caller, username))))


@router.delete("/profiles/{username}/follow", response_model=ProfileResponse, responses=errors(401))
def unfollow(username: Username, caller: RequiredCaller, profiles: Profiles) -> Response:
    view = profiles.unfollow(caller, username)
    return json_response(ProfileResponse(profile=Profile.of(view)))
