"""A fan-out child as a unit of work: the child source rendered for one entity and child, inside the
fan-out's pipeline, under its own checkpoint key (`pipeline/entity/child`) and the fan-out's run.

The child is an ordinary unit (engine/unit.py), so it runs anywhere a unit runs; what makes it a child
is said here, explicitly: its checkpoint key, its dead letters filed under the fan-out's name, and that
the fan-out's row, not the child's checkpoint, tells the run's position.
"""

from __future__ import annotations

import dataclasses

from pydantic import ValidationError

from batchsync.config import Config, FanoutSourceConfig, PipelineConfig, RestSourceConfig, render_template
from batchsync.engine.options import RunOptions
from batchsync.engine.unit import WorkUnit
from batchsync.errors import ConfigError
from batchsync.fanout.entities import Decision
from batchsync.models import JSONObject
from batchsync.state.checkpoints import unit_key


def child_unit(
    config: Config,
    name: str,
    pipeline: PipelineConfig,
    source: FanoutSourceConfig,
    decision: Decision,
    child: tuple[str, JSONObject],
    *,
    run_id: str,
    options: RunOptions,
) -> WorkUnit:
    """The unit that syncs `child` of `decision`'s entity, for fan-out `name`. Raises ConfigError when
    the child source does not render into a valid rest source.

    The child's requests in flight are its share of the pipeline's `concurrency`, split over the
    entities the fan-out runs at once (at least one each), so the fan-out as a whole has about
    `concurrency` requests out, not `concurrency` times the entities. A child fetching ahead by guess
    spends requests past its end; with the rate limit shared by every child, those are requests another
    child could have made."""
    child_id, fields_of_child = child
    fields = {"entity": decision.entity, "child": fields_of_child}
    try:
        rendered = render_template({"type": "rest", **source.child_source}, fields)
        child_source = RestSourceConfig.model_validate(rendered)
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"child_source for entity {decision.id}: {exc}") from exc
    child_pipeline = PipelineConfig.model_validate(
        {
            **pipeline.model_dump(by_alias=True, exclude={"source"}),
            "source": child_source.model_dump(by_alias=True),
        }
    )
    return WorkUnit(
        config=config,
        name=name,
        pipeline=child_pipeline,
        state_key=unit_key(name, decision.id, child_id),
        dead_letter_key=name,
        run_id=run_id,
        options=dataclasses.replace(options, concurrency=child_concurrency(pipeline, source, options)),
        reports_position=False,
        settles_dead_letters=False,
    )


def child_concurrency(pipeline: PipelineConfig, source: FanoutSourceConfig, options: RunOptions) -> int:
    """Each child's share of the pipeline's requests in flight (see `child_unit`)."""
    total = options.concurrency or pipeline.concurrency
    return max(1, total // source.concurrency)
