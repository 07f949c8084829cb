"""What distributed execution refuses, with one readable message and exit code 2 before anything is
written (SQLite, a broker nobody answers at, a worker without a broker), how `execution` is chosen, and
the Redis-kept rate limit shared by separate limiters (as separate processes would hold them)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from batchsync.cli import app
from batchsync.config import parse_config
from batchsync.distributed.ratelimit import SharedRateLimiter, SharedRateLimitError
from distsupport import execution
from redisserver import free_port
from syncsupport import fetch_all, pipeline_config, url_document, write_config

runner = CliRunner(env={"COLUMNS": "250"})


def test_sqlite_with_the_celery_backend_is_refused_naming_postgresql(tmp_path: Path, redis_url: str) -> None:
    database = tmp_path / "local.db"
    document = url_document(f"sqlite:///{database}", {"items": pipeline_config("http://127.0.0.1:9")})
    config = write_config(tmp_path / "c.yaml", {**document, "execution": execution(redis_url)})

    outcome = runner.invoke(app, ["run", "items", "--config", str(config)])

    assert outcome.exit_code == 2, outcome.output
    assert "PostgreSQL" in outcome.output and "SQLite" in outcome.output
    assert not database.exists()  # nothing written, not even batchsync's tables


def test_an_unreachable_broker_is_refused_naming_it_without_its_password_and_nothing_is_written(
    tmp_path: Path, postgres_url: str
) -> None:
    port = free_port()  # nothing listens there
    broker = f"redis://:broker-pass-123@127.0.0.1:{port}/0"
    document = url_document(postgres_url, {"items": pipeline_config("http://127.0.0.1:9")})
    config = write_config(
        tmp_path / "c.yaml", {**document, "execution": {"backend": "celery", "broker": broker}}
    )

    began = time.monotonic()
    outcome = runner.invoke(app, ["run", "items", "--config", str(config)])

    assert outcome.exit_code == 2, outcome.output
    assert f"redis://127.0.0.1:{port}/0" in outcome.output
    assert "broker-pass-123" not in outcome.output
    assert time.monotonic() - began < 30
    tables = fetch_all(
        postgres_url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    assert tables == []  # no batchsync_runs row, no table: nothing half-written


def test_a_worker_without_a_broker_or_with_an_unreachable_one_says_so(
    tmp_path: Path, postgres_url: str
) -> None:
    document = url_document(postgres_url, {"items": pipeline_config("http://127.0.0.1:9")})
    config = write_config(tmp_path / "c.yaml", document)
    outcome = runner.invoke(app, ["worker", "--config", str(config)], env={"BATCHSYNC_BROKER_URL": ""})
    assert outcome.exit_code == 2 and "needs a broker" in outcome.output, outcome.output

    port = free_port()
    unreachable = write_config(
        tmp_path / "d.yaml", {**document, "execution": execution(f"redis://127.0.0.1:{port}/0")}
    )
    outcome = runner.invoke(app, ["worker", "--config", str(unreachable)])
    assert outcome.exit_code == 2 and f"redis://127.0.0.1:{port}/0" in outcome.output, outcome.output


def test_the_broker_url_from_the_environment_makes_pipelines_distributed_unless_one_says_local() -> None:
    document = {
        "database": "postgresql://u@127.0.0.1/db",
        "pipelines": {
            "items": pipeline_config("http://127.0.0.1:9"),
            "kept_here": {**pipeline_config("http://127.0.0.1:9"), "execution": {"backend": "local"}},
        },
    }
    config = parse_config(document, environ={"BATCHSYNC_BROKER_URL": "redis://:pw-in-url@10.0.0.5:6379/2"})

    assert config.execution_for("items").is_distributed
    assert config.execution_for("items").broker_shown == "redis://10.0.0.5:6379/2"
    assert not config.execution_for("kept_here").is_distributed
    assert {"pw-in-url", "redis://:pw-in-url@10.0.0.5:6379/2"} <= config.secret_values()
    assert not parse_config(document, environ={}).execution_for("items").is_distributed


@pytest.mark.parametrize(
    ("execution_config", "problem"),
    [
        ({"backend": "celery"}, "needs a broker"),
        ({"backend": "celery", "broker": "amqp://127.0.0.1"}, "redis://"),
        ({"backend": "threads"}, "local"),
    ],
)
def test_a_bad_execution_section_is_a_config_error(execution_config: dict[str, str], problem: str) -> None:
    from batchsync.errors import ConfigError

    document = {"pipelines": {"items": pipeline_config("http://127.0.0.1:9")}, "execution": execution_config}
    with pytest.raises(ConfigError) as raised:
        parse_config(document, environ={})
    assert problem in " ".join(raised.value.problems)


def _limiter(url: str, rate: float | None = 20.0) -> SharedRateLimiter:
    return SharedRateLimiter(
        redis.Redis.from_url(url), "batchsync:ratelimit:test", rate, max_wait_seconds=30, shown="redis"
    )


def test_separate_limiters_on_one_redis_key_together_keep_to_the_rate(redis_url: str) -> None:
    rate, per_thread = 20.0, 5
    limiters = [_limiter(redis_url, rate), _limiter(redis_url, rate)]
    times: list[float] = []
    lock = threading.Lock()

    def take(limiter: SharedRateLimiter) -> None:
        for _ in range(per_thread):
            limiter.acquire()
            with lock:
                times.append(time.monotonic())

    threads = [threading.Thread(target=take, args=(limiter,)) for limiter in limiters for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times.sort()
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == 30
    assert times[-1] - times[0] >= (len(times) - 1) / rate * 0.95
    assert sum(1 for gap in gaps if gap < 0.5 / rate) <= 2  # thread wake-ups may bunch a pair, no more


def test_a_retry_after_one_limiter_hears_holds_the_others(redis_url: str) -> None:
    hearing, other = _limiter(redis_url, None), _limiter(redis_url, None)
    hearing.observe(429, {"Retry-After": "1"})
    began = time.monotonic()
    other.acquire()
    assert time.monotonic() - began >= 0.9


def test_a_limiter_whose_redis_is_away_raises_a_readable_error() -> None:
    limiter = _limiter(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(SharedRateLimitError, match="shared rate limit"):
        limiter.acquire()
