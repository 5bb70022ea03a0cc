"""The registrar (RFC 3261 §10.3, RFC 5626 §6, RFC 3327): REGISTER in, bindings stored.

Wiring::

    registrar = Registrar(RegistrarConfig(domains=frozenset({"example.com"})),
                          store, authenticator)
    response = registrar.process(request, source, local, now)   # sans-I/O
    await registrar.handle(incoming)                             # endpoint adapter
"""

from sipline.registrar._config import RegistrarConfig
from sipline.registrar._reach import reach_address
from sipline.registrar._registrar import IncomingRequest, RegisterReply, Registrar

__all__ = ["IncomingRequest", "RegisterReply", "Registrar", "RegistrarConfig", "reach_address"]
