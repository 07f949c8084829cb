"""When `batchsync serve` runs a pipeline by itself: `schedule:` as a cron expression (croniter's five
fields, or six with seconds last), in a time zone, and whether a time missed while the service was down
is made up once at start-up (`catch_up`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import field_validator, model_validator

from batchsync.config.base import Model


class ScheduleConfig(Model):
    cron: str
    """`0 2 * * *` (02:00 every day); a sixth field is seconds (`*/10` in it: every ten seconds)."""
    timezone: str = "UTC"
    """The zone the cron expression is read in (an IANA name: Europe/Berlin); daylight saving included."""
    catch_up: bool = False
    """Run once at start-up when a scheduled time passed while the service was down."""

    @model_validator(mode="before")
    @classmethod
    def _plain_expression(cls, data: Any) -> Any:
        return {"cron": data} if isinstance(data, str) else data  # `schedule: "0 2 * * *"`

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        if not croniter.is_valid(cron):
            raise ValueError(f"not a cron expression: {cron!r} (e.g. '0 2 * * *' for 02:00 every day)")
        return cron

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None
        return name

    def next_after(self, moment: datetime) -> datetime:
        """The first scheduled time after `moment` (aware), in the schedule's zone."""
        found: datetime = croniter(self.cron, moment.astimezone(ZoneInfo(self.timezone))).get_next(datetime)
        return found

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last scheduled time not after `moment`: exactly a cron time (whole seconds), so every
        service that asks about one moment names the same tick."""
        local = moment.astimezone(ZoneInfo(self.timezone)).replace(microsecond=0) + timedelta(seconds=1)
        found: datetime = croniter(self.cron, local).get_prev(datetime)  # strictly before `local`
        return found
