"""The RFC 3261 §16 proxy: ``server.mode = "proxy"`` (Kamailio/Flexisip style).

``Proxy`` is an endpoint application; the decisions without I/O (is a URI ours,
route processing, loop detection, Record-Route, best response) are in
``sipline.proxy._routing`` and exported here for tests and other applications.
"""

from sipline.proxy._proxy import Proxy, ProxyConfig
from sipline.proxy._routing import (
    LocalIdentity,
    best_response,
    is_loop,
    loop_key,
    pop_own_routes,
    record_route_uri,
    remove_first_value,
    via_destination,
)

__all__ = [
    "LocalIdentity",
    "Proxy",
    "ProxyConfig",
    "best_response",
    "is_loop",
    "loop_key",
    "pop_own_routes",
    "record_route_uri",
    "remove_first_value",
    "via_destination",
]
