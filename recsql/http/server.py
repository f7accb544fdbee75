"""Running the HTTP API: ``recsql serve`` starts uvicorn with the application of
:mod:`recsql.http.app`, in one process or in ``workers`` processes sharing the port (each
with its own copy of the tenants it serves, its own watch of the served file and its own rate
limits; all append to the same event log)."""

from __future__ import annotations

import os

import uvicorn

from recsql.http.app import CONFIG_VARIABLE, Config, create_app


def serve(
    config: Config,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    access_log: bool = False,
) -> None:
    """Serve until interrupted (SIGINT, SIGTERM)."""
    options = {
        "host": host,
        "port": port,
        "access_log": access_log,
        "log_level": "info",
        "loop": "auto",
        "http": "auto",
        # idle keep-alive connections stay open 75 s (nginx's default), longer than the idle
        # timeout of the usual load balancers (60 s): a proxy never reuses a connection the
        # server has just closed (uvicorn's default is 5 s)
        "timeout_keep_alive": 75,
    }
    if workers == 1:
        uvicorn.run(create_app(config), **options)  # type: ignore[arg-type]
        return
    os.environ[CONFIG_VARIABLE] = config.to_json()
    uvicorn.run("recsql.http.app:app_from_environment", factory=True, workers=workers, **options)  # type: ignore[arg-type]


__all__ = ["serve"]
