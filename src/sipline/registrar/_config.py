"""Registrar settings."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["RegistrarConfig"]


_NORMAL_HOSTS: dict[str, str] = {}


def _normal_host(host: str) -> str:
    """Lower case, no brackets or trailing dot, IP literals compressed (memoised:
    every REGISTER asks for its domain)."""
    normal = _NORMAL_HOSTS.get(host)
    if normal is None:
        normal = host.lower().strip("[]").rstrip(".")
        try:
            normal = ipaddress.ip_address(normal).compressed
        except ValueError:
            pass
        if len(_NORMAL_HOSTS) > 4096:
            _NORMAL_HOSTS.clear()
        _NORMAL_HOSTS[host] = normal
    return normal


@dataclass(frozen=True, slots=True)
class RegistrarConfig:
    """What the registrar serves and how long bindings last (RFC 3261 §10.3, §10.2.1.1).

    ``domains``: the domains whose AORs it registers; when empty, it serves the
    server's own addresses (``local_addresses``, plus the address a REGISTER
    arrived on).  Expiry: a Contact's ``expires`` parameter, else the ``Expires``
    header, else ``default_expires``; below ``min_expires`` gets 423, above
    ``max_expires`` is clamped.  ``max_bindings`` caps the contacts of one AOR.
    """

    domains: frozenset[str] = frozenset()
    local_addresses: frozenset[str] = frozenset()
    default_expires: int = 3600
    min_expires: int = 60
    max_expires: int = 7200
    max_bindings: int = 20

    def __post_init__(self) -> None:
        if not 0 < self.min_expires <= self.default_expires <= self.max_expires:
            raise ValueError(
                "registrar expiry settings must satisfy 0 < min_expires <= default_expires"
                f" <= max_expires; got {self.min_expires}, {self.default_expires},"
                f" {self.max_expires}"
            )
        if self.max_bindings < 1:
            raise ValueError("max_bindings must be at least 1")
        object.__setattr__(self, "domains", frozenset(_normal_host(d) for d in self.domains))
        object.__setattr__(
            self, "local_addresses", frozenset(_normal_host(a) for a in self.local_addresses)
        )

    def serves(self, host: str, arrived_on: str) -> bool:
        """True when ``host`` (a Request-URI or To host) is a domain of this registrar."""
        host = _normal_host(host)
        if self.domains:
            return host in self.domains
        return host in self.local_addresses or host == _normal_host(arrived_on)
