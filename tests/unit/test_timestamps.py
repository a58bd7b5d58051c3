"""The one format timestamps leave the API in: UTC, milliseconds, "Z"."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter

from api.schemas import Timestamp

_JSON = TypeAdapter(Timestamp)


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2026, 3, 4, 5, 6, 7, 899999, tzinfo=UTC), "2026-03-04T05:06:07.899Z"),
        (datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), "2026-03-04T05:06:07.000Z"),
        (datetime(999, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), "0999-01-02T03:04:05.006Z"),
        # Another zone, or another object for UTC (psycopg's), is shown in UTC.
        (
            datetime(2026, 3, 4, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
            "2026-03-05T01:30:00.000Z",
        ),
        (
            datetime(2026, 3, 4, 5, 6, 7, 1000, tzinfo=ZoneInfo("Etc/UTC")),
            "2026-03-04T05:06:07.001Z",
        ),
    ],
)
def test_timestamps_are_utc_with_milliseconds_truncated(moment: datetime, shown: str) -> None:
    assert _JSON.dump_python(moment, mode="json") == shown
