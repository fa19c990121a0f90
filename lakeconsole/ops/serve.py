"""Wire metrics and health to a running Service and serve them over HTTP."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lakeconsole.config import Settings, metrics_address
from lakeconsole.errors import ConfigError
from lakeconsole.ops.health import Health
from lakeconsole.ops.http import OpsServer
from lakeconsole.ops.metrics import LakeMetrics

if TYPE_CHECKING:
    from lakeconsole.service import Service

log = logging.getLogger(__name__)


def serve_ops(service: Service, host: str, port: int, flush_failing_s: float) -> OpsServer:
    """Subscribe metrics and health to `service` and start the HTTP server on host:port."""
    metrics = LakeMetrics()
    health = Health(flush_failing_s, nats_probe=lambda: service.bus.is_connected,
                    started_probe=lambda: service.started)
    service.subscribe(metrics.apply)
    service.subscribe(health.apply)
    server = OpsServer(host, port, metrics, health).start()
    log.info("metrics and health on %s (/metrics /healthz /readyz)", server.url)
    return server


def serve_configured(service: Service, settings: Settings, default: str) -> OpsServer | None:
    """Serve on `[metrics] addr` (`default` when it is ""); None when metrics are off."""
    address = metrics_address(settings.metrics.addr, default)
    if address is None:
        return None
    try:
        return serve_ops(service, *address, settings.metrics.ready_flush_failing_s)
    except OSError as exc:
        if not settings.metrics.addr:  # only the default was taken: run on, without metrics
            log.warning("metrics not served: cannot listen on %s:%d (%s); set --metrics-addr",
                        *address, exc.strerror or exc)
            return None
        where = f"{address[0]}:{address[1]}"
        raise ConfigError(f"metrics.addr / --metrics-addr: cannot serve on {where}: "
                          f"{exc.strerror or exc}") from exc
