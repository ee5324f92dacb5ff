"""`memfun app serve`: the GitHub App's webhook server (uvicorn running `github/appserver.py`).

Everything that would make the server useless is refused before it listens, in one line
(exit 2): no webhook secret in the variable `[github] webhook_secret_env` names, a port that is
taken or not allowed, a backend that does not answer. The secret is registered with the
redactor and never printed. The backend is the configured tier's (`[backend]`), found from
the repository memfun runs in when there is one (`-C`), as `memfun worker` finds it: workers
on other machines share it through Redis or NATS, or through `[backend] sqlite_path` on one.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git import config
from memfun_git.errors import ConfigError, UsageError
from memfun_git.gitops.repo import discover
from memfun_git.redact import register_environ, register_secret

if TYPE_CHECKING:
    from memfun_git.backends.protocols import Backend
    from memfun_git.config import BackendConfig, GitHubConfig
    from memfun_git.github.appserver import AppSettings

__all__ = ["app_settings", "listen", "run_app_serve"]


def run_app_serve(
    start: Path, *, host: str, port: int, environ: Mapping[str, str] | None = None
) -> int:
    """Check what the server needs, then serve until Ctrl-C or SIGTERM."""
    env = dict(os.environ if environ is None else environ)
    paths = discover(start) if start.exists() else None
    workdir = paths.workdir if paths is not None and not paths.bare else None
    cfg = config.load(workdir or start, environ=env)  # the App's home holds its memfun.toml
    github, backend_config = cfg.github, cfg.backend
    settings = app_settings(github, env)
    register_environ(env, [github.webhook_secret_env, github.private_key_env])
    common_dir = paths.common_dir if paths is not None else start.resolve() / ".memfun"
    sock = listen(host, port)
    try:
        asyncio.run(_probe(backend_config, common_dir))
        _serve(settings, backend_config, common_dir, sock, host)
    finally:
        sock.close()
    return 0


def app_settings(github: GitHubConfig, environ: Mapping[str, str]) -> AppSettings:
    """The server's settings from `[github]`; the webhook secret is read from the variable it
    names (ConfigError, naming that variable, when it is unset or empty)."""
    from memfun_git.github.appserver import AppSettings
    from memfun_git.github.webhook import Triggers

    name = github.webhook_secret_env
    secret = environ.get(name, "")
    if not secret.strip():
        raise ConfigError(
            f"the App's webhook secret is not set: ${name} is "
            + ("empty" if name in environ else "unset"),
            f"export {name} with the secret of the App's webhook settings (or set "
            "[github] webhook_secret_env to the variable holding it)",
        )
    secret = secret.strip()  # `$(cat secret.txt)` keeps a trailing newline GitHub never signs
    register_secret(secret)
    status_token = environ.get(github.status_token_env, "").strip()
    register_secret(status_token or None)
    return AppSettings(
        webhook_secret=secret.encode(),
        triggers=Triggers(label=github.label, app_slug=github.app_slug),
        status_token=status_token,
    )


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` and listening; port 0 takes a free one (the start-up
    line names it). UsageError naming the address when the port is out of range or taken, or
    the host unknown."""
    if not 0 <= port <= 65535:
        raise UsageError(
            f"--port {port} is not a port", "use a number from 1 to 65535 (0: any free port)"
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(
            f"--host {host}: cannot be resolved ({exc.strerror})",
            "use an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            "pick another --port, or stop what listens there",
        ) from None
    sock.set_inheritable(True)
    return sock


async def _probe(backend_config: BackendConfig, common_dir: Path | None) -> None:
    """Open and close the backend once, so one that does not answer is one line now rather
    than a traceback in the server's start-up."""
    from memfun_git.backends import open_backend

    backend = await open_backend(backend_config, common_dir)
    await backend.close()


def _serve(
    settings: AppSettings,
    backend_config: BackendConfig,
    common_dir: Path | None,
    sock: socket.socket,
    host: str,
) -> None:
    import uvicorn

    from memfun_git.github.appserver import create_app

    async def open_configured() -> Backend:
        from memfun_git.backends import open_backend

        return await open_backend(backend_config, common_dir)

    app = create_app(settings, open_configured)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"memfun app: webhooks at http://{shown}:{port}/webhook on the {backend_config.tier} "
        f"tier ({backend_config.namespace}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    # log_config=None: memfun's own handlers (redacting) get uvicorn's records.
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", server_header=False)
    )
    server.run(sockets=[sock])
