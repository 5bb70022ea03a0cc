"""The admin API, ``/metrics`` and web console of a running sipline (issue #9).

    admin = AdminServer(server, config.admin.listen, data_dir, calls=b2bua, trace=live)
    await admin.start()          # prints the URL; writes admin-token and admin.json
    ...
    await admin.close()

The CLI console (``sipline status`` ...) talks to it with :class:`AdminClient`,
found through :func:`read_location` from the data directory.
"""

from sipline.admin._client import AdminClient, AdminClientError
from sipline.admin._interfaces import (
    AuthStats,
    CallInfo,
    CallRegistry,
    LegInfo,
    MediaStats,
    ReloadFunction,
    ServerView,
    TraceControl,
    TrunkDirectory,
    TrunkInfo,
)
from sipline.admin._metrics import WireCounter
from sipline.admin._server import AdminServer, build_app, parse_admin_listen
from sipline.admin._token import (
    DISCOVERY_NAME,
    TOKEN_NAME,
    AdminLocation,
    load_or_create_token,
    read_location,
)

__all__ = [
    "DISCOVERY_NAME",
    "TOKEN_NAME",
    "AdminClient",
    "AdminClientError",
    "AdminLocation",
    "AdminServer",
    "AuthStats",
    "CallInfo",
    "CallRegistry",
    "LegInfo",
    "MediaStats",
    "ReloadFunction",
    "ServerView",
    "TraceControl",
    "TrunkDirectory",
    "TrunkInfo",
    "WireCounter",
    "build_app",
    "load_or_create_token",
    "parse_admin_listen",
    "read_location",
]
