"""Consumer lag in the log: a line when a consumer starts lagging, every so often while it
lags, and when it caught up; never one per poll."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lakeconsole import events as ev

LAG_LOG_INTERVAL_S = 30.0
LAG_MIN_PENDING = 1000  # below this a busy consumer is keeping up, not lagging


@dataclass
class LagLog:
    """A Service listener that logs ConsumerLag changes that matter."""

    logger: logging.Logger
    interval_s: float = LAG_LOG_INTERVAL_S
    min_pending: int = LAG_MIN_PENDING
    clock: Callable[[], float] = time.monotonic
    _lagging_since_log: dict[str, float] = field(default_factory=dict)

    def apply(self, event: ev.Event) -> None:
        """Log one lag report if it changes the picture."""
        if not isinstance(event, ev.ConsumerLag):
            return
        name, now = event.consumer, self.clock()
        last = self._lagging_since_log.get(name)
        figures = (f"{event.num_pending} pending, {event.num_ack_pending} ack pending, "
                   f"{event.num_redelivered} redelivered")
        extra = {"consumer": name, "pending": event.num_pending,
                 "ack_pending": event.num_ack_pending, "redelivered": event.num_redelivered}
        if event.num_pending >= self.min_pending:
            if last is None or now - last >= self.interval_s:
                self._lagging_since_log[name] = now
                self.logger.info("consumer %s lagging: %s", name, figures, extra=extra)
        elif last is not None:
            del self._lagging_since_log[name]
            self.logger.info("consumer %s caught up: %s", name, figures, extra=extra)
