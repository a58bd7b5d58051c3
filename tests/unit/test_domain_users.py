"""Value rules of the user aggregate: emails, usernames, passwords, bio and image."""

import re

import pytest

from domain import messages
from domain.errors import ValidationFailed
from domain.users import (
    BIO_MAX,
    EMAIL_MAX,
    IMAGE_MAX,
    PASSWORD_MAX,
    USERNAME_MAX,
    User,
    check_bio,
    check_image,
    check_password,
    check_username,
    normalize_email,
)


def test_an_email_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Alice.Smith@Example.IO \n") == "alice.smith@example.io"


@pytest.mark.parametrize(
    "variant",
    [
        "re\u0301ne@example.com",  # "e" and a combining acute accent (NFD)
        "R\u00c9NE@example.com",  # "É" as one character, upper case
        "RE\u0301NE@EXAMPLE.COM",
        "r\u00e9ne@example.com",
    ],
)
def test_an_email_is_the_same_in_any_unicode_form_and_case(variant: str) -> None:
    assert normalize_email(variant) == "r\u00e9ne@example.com"


def test_an_email_is_case_folded_not_only_lower_cased() -> None:
    assert normalize_email("STRASSE@example.de") == normalize_email("stra\u00dfe@example.de")


@pytest.mark.parametrize(
    "email",
    ["alice", "alice@", "@example.com", "alice@example", "al ice@example.com", "a@b@c.io"],
)
def test_a_malformed_email_is_refused(email: str) -> None:
    with pytest.raises(ValidationFailed, match=messages.EMAIL_INVALID):
        normalize_email(email)


def test_a_blank_email_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=messages.blank("email")):
        normalize_email("   ")


def test_an_email_of_the_maximum_length_is_accepted_and_one_longer_is_refused() -> None:
    domain = "@example.com"
    longest = "a" * (EMAIL_MAX - len(domain)) + domain
    assert normalize_email(longest) == longest
    with pytest.raises(ValidationFailed):
        normalize_email("a" + longest)


def test_the_email_length_limit_applies_after_trimming() -> None:
    domain = "@example.com"
    longest = "a" * (EMAIL_MAX - len(domain)) + domain
    assert normalize_email(f"   {longest}   ") == longest


def test_an_email_with_a_nul_byte_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=messages.contains_nul("email")):
        normalize_email("alice\x00@example.com")


def test_an_email_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=messages.not_a_string("email")):
        normalize_email(42)  # type: ignore[arg-type]  # what a bad JSON body may carry


@pytest.mark.parametrize("username", ["a", "Alice", "alice_smith", "alice.smith", "al-1ce"])
def test_a_username_of_letters_digits_underscore_dot_and_dash_is_kept_as_written(
    username: str,
) -> None:
    assert check_username(username) == username


@pytest.mark.parametrize("username", ["alice smith", "alice!", "al/ice", "ålice", " alice"])
def test_a_username_with_other_characters_is_refused(username: str) -> None:
    with pytest.raises(ValidationFailed, match=re.escape(messages.USERNAME_CHARACTERS)):
        check_username(username)


def test_a_username_is_1_to_64_characters() -> None:
    assert check_username("u" * USERNAME_MAX) == "u" * USERNAME_MAX
    with pytest.raises(
        ValidationFailed, match=re.escape(messages.too_long("username", USERNAME_MAX))
    ):
        check_username("u" * (USERNAME_MAX + 1))
    with pytest.raises(ValidationFailed, match=messages.blank("username")):
        check_username("")


def test_a_username_with_a_nul_byte_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=messages.contains_nul("username")):
        check_username("alice\x00")


def test_a_password_must_not_be_empty() -> None:
    with pytest.raises(ValidationFailed, match=messages.blank("password")):
        check_password("")
    with pytest.raises(ValidationFailed, match=messages.blank("password")):
        check_password("   ")


def test_a_password_is_at_most_the_maximum_length() -> None:
    assert check_password("p" * PASSWORD_MAX) == "p" * PASSWORD_MAX
    with pytest.raises(
        ValidationFailed, match=re.escape(messages.too_long("password", PASSWORD_MAX))
    ):
        check_password("p" * (PASSWORD_MAX + 1))


def test_a_password_with_a_nul_byte_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=messages.contains_nul("password")):
        check_password("secret\x00")


def test_bio_and_image_may_be_empty_but_not_too_long() -> None:
    assert check_bio("") == ""
    assert check_image("") == ""
    assert check_bio("b" * BIO_MAX) == "b" * BIO_MAX
    with pytest.raises(ValidationFailed, match=re.escape(messages.too_long("bio", BIO_MAX))):
        check_bio("b" * (BIO_MAX + 1))
    with pytest.raises(ValidationFailed, match=re.escape(messages.too_long("image", IMAGE_MAX))):
        check_image("i" * (IMAGE_MAX + 1))


def test_bio_and_image_with_a_nul_byte_are_refused() -> None:
    with pytest.raises(ValidationFailed, match=messages.contains_nul("bio")):
        check_bio("hi\x00")
    with pytest.raises(ValidationFailed, match=messages.contains_nul("image")):
        check_image("https://example.com/\x00.png")


def test_registering_a_user_normalises_the_email_and_keeps_the_username() -> None:
    user = User.register(username="Alice", email=" ALICE@Example.com ", password_hash="h")
    assert (user.username, user.email, user.password_hash) == ("Alice", "alice@example.com", "h")
    assert (user.bio, user.image, user.id) == ("", "", None)


def test_registering_a_user_with_an_invalid_username_or_email_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        User.register(username="not valid", email="a@example.com", password_hash="h")
    with pytest.raises(ValidationFailed):
        User.register(username="alice", email="not-an-email", password_hash="h")
