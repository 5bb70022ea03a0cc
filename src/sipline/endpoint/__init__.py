"""The endpoint: listeners, transactions and the application, glued (RFC 3261 §8, §18).

An application (registrar, proxy, B2BUA) implements ``Application``: it gets
each new request as an ``IncomingRequest`` to answer, and sends requests with
``Endpoint.send_request`` (iterate the returned ``ClientRequest`` for responses).
"""

from sipline.endpoint._config import Application, EndpointConfig, EndpointStats
from sipline.endpoint._endpoint import Endpoint
from sipline.endpoint._requests import ClientRequest, IncomingRequest
from sipline.endpoint._via import bad_request_response, response_destination, stamp_received

__all__ = [
    "Application",
    "ClientRequest",
    "Endpoint",
    "EndpointConfig",
    "EndpointStats",
    "IncomingRequest",
    "bad_request_response",
    "response_destination",
    "stamp_received",
]
