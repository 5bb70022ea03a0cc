"""Storage: users, registrations (the location service) and CDRs.

Applications code against the Protocols :class:`UserStore`, :class:`LocationStore`
and :class:`CdrStore`; :class:`SqliteStore` implements all three in one file
``sipline.db`` in the data directory (:func:`open_store`).  Shared Redis or
PostgreSQL stores for several nodes can implement the same Protocols.
"""

from sipline.store._interfaces import (
    CdrStore,
    LocationStore,
    StoreError,
    UserExistsError,
    UserStore,
)
from sipline.store._model import Binding, CdrRecord, User
from sipline.store._secret import SECRET_NAME, load_or_create_secret
from sipline.store._sqlite import DATABASE_NAME, SCHEMA_VERSION, SqliteStore, open_store

__all__ = [
    "DATABASE_NAME",
    "SCHEMA_VERSION",
    "SECRET_NAME",
    "Binding",
    "CdrRecord",
    "CdrStore",
    "LocationStore",
    "SqliteStore",
    "StoreError",
    "User",
    "UserExistsError",
    "UserStore",
    "load_or_create_secret",
    "open_store",
]
