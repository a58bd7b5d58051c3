"""Value rules of the article and comment aggregates: slugs, texts, tags and ownership."""

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from domain import messages
from domain.articles import (
    BODY_MAX,
    DESCRIPTION_MAX,
    TAG_MAX,
    TAGS_PER_ARTICLE_MAX,
    TITLE_MAX,
    Article,
    check_body,
    check_description,
    check_title,
    normalize_tags,
    slugify,
)
from domain.comments import COMMENT_MAX, Comment, check_comment_body
from domain.errors import ValidationFailed
from tests.factories import ArticleFactory, CommentFactory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# -- slugs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("How to train your Dragon!", "how-to-train-your-dragon"),
        ("  Hello,   World...  ", "hello-world"),
        ("C++ & Rust: a -- comparison", "c-rust-a-comparison"),
        ("snake_case/and.dots", "snake-case-and-dots"),
        ("Top 10 in 2026", "top-10-in-2026"),
    ],
)
def test_a_slug_is_the_title_lower_cased_with_punctuation_turned_into_single_dashes(
    title: str, slug: str
) -> None:
    assert slugify(title) == slug


def test_accented_letters_lose_their_accents_in_the_slug() -> None:
    assert slugify("Crème brûlée à la française") == "creme-brulee-a-la-francaise"


@pytest.mark.parametrize("title", ["", "!!!", "   ", "日本語のタイトル", "🐉🐉"])
def test_a_title_with_nothing_sluggable_gives_the_slug_article(title: str) -> None:
    assert slugify(title) == "article"


def test_a_slug_is_never_longer_than_a_title_and_never_ends_with_a_dash() -> None:
    slug = slugify("ab " * TITLE_MAX)
    assert len(slug) <= TITLE_MAX
    assert not slug.endswith("-")
    assert slug.startswith("ab-ab-")


# -- texts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "field", "limit"),
    [
        (check_title, "title", TITLE_MAX),
        (check_description, "description", DESCRIPTION_MAX),
        (check_body, "body", BODY_MAX),
        (check_comment_body, "body", COMMENT_MAX),
    ],
)
def test_article_and_comment_texts_are_required_and_bounded(
    check: Callable[[str], str], field: str, limit: int
) -> None:
    assert check("x" * limit) == "x" * limit
    with pytest.raises(ValidationFailed, match=re.escape(messages.too_long(field, limit))):
        check("x" * (limit + 1))
    with pytest.raises(ValidationFailed, match=messages.blank(field)):
        check(" \t\n")
    with pytest.raises(ValidationFailed, match=messages.contains_nul(field)):
        check("before\x00after")


# -- tags -------------------------------------------------------------------------------


def test_tags_are_trimmed_deduplicated_and_sorted() -> None:
    assert normalize_tags([" rust", "python", "rust ", "go", "python"]) == ["go", "python", "rust"]


def test_blank_tags_are_dropped() -> None:
    assert normalize_tags(["", "   ", "python"]) == ["python"]
    assert normalize_tags([]) == []


def test_tags_keep_their_case() -> None:
    assert normalize_tags(["Python", "python"]) == ["Python", "python"]


def test_an_article_may_have_the_maximum_number_of_tags_but_no_more() -> None:
    most = [f"tag{n}" for n in range(TAGS_PER_ARTICLE_MAX)]
    assert len(normalize_tags(most)) == TAGS_PER_ARTICLE_MAX
    with pytest.raises(ValidationFailed, match=f"at most {TAGS_PER_ARTICLE_MAX} tags"):
        normalize_tags([*most, "one-too-many"])


def test_duplicates_do_not_count_towards_the_maximum_number_of_tags() -> None:
    most = [f"tag{n}" for n in range(TAGS_PER_ARTICLE_MAX)]
    assert normalize_tags(most + most) == sorted(most)


def test_a_tag_is_bounded_and_has_no_nul_byte() -> None:
    assert normalize_tags(["t" * TAG_MAX]) == ["t" * TAG_MAX]
    with pytest.raises(ValidationFailed, match=re.escape(messages.too_long("tag", TAG_MAX))):
        normalize_tags(["t" * (TAG_MAX + 1)])
    with pytest.raises(ValidationFailed, match=messages.contains_nul("tag")):
        normalize_tags(["py\x00thon"])


# -- writing and ownership --------------------------------------------------------------


def test_writing_an_article_checks_its_texts_and_normalises_its_tags() -> None:
    article = Article.write(
        author_id=7,
        slug="a-title",
        title="A title",
        description="About",
        body="Text",
        tag_names=["b", " a", "b", ""],
        now=NOW,
    )
    assert [tag.name for tag in article.tags] == ["a", "b"]
    assert (article.created_at, article.updated_at) == (NOW, NOW)
    assert (article.favorites_count, article.id, article.author_id) == (0, None, 7)


@pytest.mark.parametrize(
    "overrides", [{"title": ""}, {"description": " "}, {"body": "\x00"}, {"tag_names": ["\x00"]}]
)
def test_writing_an_article_with_an_invalid_value_is_refused(overrides: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "author_id": 7,
        "slug": "s",
        "title": "A title",
        "description": "About",
        "body": "Text",
        "tag_names": [],
        "now": NOW,
    }
    with pytest.raises(ValidationFailed):
        Article.write(**{**fields, **overrides})  # type: ignore[arg-type]  # values of mixed types


def test_only_its_author_has_written_an_article() -> None:
    article = ArticleFactory(author_id=1)
    assert article.is_written_by(1)
    assert not article.is_written_by(2)


def test_writing_a_comment_checks_its_body() -> None:
    comment = Comment.write(article_id=3, author_id=1, body="Nice", now=NOW)
    assert (comment.article_id, comment.author_id, comment.body) == (3, 1, "Nice")
    assert (comment.created_at, comment.updated_at, comment.id) == (NOW, NOW, None)
    with pytest.raises(ValidationFailed, match=messages.blank("body")):
        Comment.write(article_id=3, author_id=1, body="  ", now=NOW)


def test_only_its_author_has_written_a_comment() -> None:
    comment = CommentFactory(article_id=1, author_id=5)
    assert comment.is_written_by(5)
    assert not comment.is_written_by(6)
