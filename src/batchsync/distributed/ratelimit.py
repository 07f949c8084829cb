"""A pipeline's rate limit shared by every worker: the limiter's schedule (the next free turn, and the
pause an API asked for) kept in Redis instead of in one process, so ten workers together still send at
most `rate_limit` requests a second, and a `Retry-After` one worker hears holds them all.

Each turn is taken by a small Lua script, atomic in Redis, on Redis's own clock (so the workers' clocks
never need to agree): the turn is the later of now, the next free turn and the pause's end, and the next
free turn moves one interval past it. The rest (slowing down after a 429, quota headers, giving up on a
pause longer than `max_backoff`) is the local limiter's own logic (http/ratelimit.py).
"""

from __future__ import annotations

import redis

from batchsync.config import PipelineConfig
from batchsync.config.execution import ExecutionConfig
from batchsync.errors import SourceError
from batchsync.http.ratelimit import RateLimiter

_KEY_SECONDS = 3600  # a schedule nobody touched for an hour is forgotten
_SOCKET_TIMEOUT_SECONDS = 5.0

_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
_TAKE_TURN = (
    _NOW
    + """
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local interval = tonumber(ARGV[1])
local start = math.max(now, slot, paused)
if interval > 0 then
  redis.call('SET', KEYS[1], string.format('%.6f', start + interval), 'EX', tonumber(ARGV[2]))
end
return {string.format('%.6f', start - now), string.format('%.6f', paused - now)}
"""
)
_EXTEND_PAUSE = (
    _NOW
    + """
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
local resume = now + tonumber(ARGV[1])
if resume <= paused then return 0 end
local seconds = math.ceil(tonumber(ARGV[1])) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.6f', resume), 'EX', seconds)
return 1
"""
)
_IS_PAUSED = _NOW + "return (tonumber(redis.call('GET', KEYS[1]) or '0') > now) and 1 or 0"


class SharedRateLimitError(SourceError):
    """Redis, where the shared rate limit lives, cannot be reached."""


class SharedRateLimiter(RateLimiter):
    """A RateLimiter whose schedule lives in Redis under `key`, shared by every process using it."""

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        requests_per_second: float | None,
        *,
        max_wait_seconds: float,
        shown: str,
    ) -> None:
        super().__init__(requests_per_second, max_wait_seconds=max_wait_seconds)
        self._client = client
        self._slot_key = f"{key}:slot"
        self._pause_key = f"{key}:pause"
        self._shown = shown
        self._take = client.register_script(_TAKE_TURN)
        self._extend = client.register_script(_EXTEND_PAUSE)
        self._paused = client.register_script(_IS_PAUSED)

    def _take_turn(self, interval: float) -> tuple[float, float]:
        answer = self._call(self._take, [self._slot_key, self._pause_key], [interval, _KEY_SECONDS])
        assert isinstance(answer, list) and len(answer) == 2
        return float(answer[0]), float(answer[1])

    def _extend_pause(self, delay: float) -> bool:
        return bool(self._call(self._extend, [self._pause_key], [delay, _KEY_SECONDS]))

    def _is_paused(self) -> bool:
        return bool(self._call(self._paused, [self._pause_key], []))

    def _call(self, script: redis.commands.core.Script, keys: list[str], args: list[float]) -> object:
        try:
            return script(keys=keys, args=args)
        except redis.RedisError as exc:
            raise SharedRateLimitError(
                f"the shared rate limit cannot be read from Redis at {self._shown}: {exc}"
            ) from exc


def shared_rate_limiter(execution: ExecutionConfig, name: str, pipeline: PipelineConfig) -> RateLimiter:
    """Pipeline `name`'s limiter for a worker: shared through the broker's Redis when the pipeline has a
    `rate_limit` (or whenever it runs distributed, so a `Retry-After` holds every worker)."""
    assert execution.broker is not None
    client = redis.Redis.from_url(
        execution.broker,
        socket_timeout=_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=_SOCKET_TIMEOUT_SECONDS,
    )
    return SharedRateLimiter(
        client,
        f"batchsync:ratelimit:{name}",
        pipeline.rate_limit.per_second if pipeline.rate_limit else None,
        max_wait_seconds=pipeline.retry.max_backoff,
        shown=execution.broker_shown,
    )
