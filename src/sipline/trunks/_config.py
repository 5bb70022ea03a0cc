"""Trunks to upstream providers: ``[[trunks]]`` tables checked into ``TrunkConfig``.

::

    [[trunks]]
    name = "provider"               # used by the dialplan: bridge trunk/provider/$1
    host = "sip.example.net"        # a name (RFC 3263: NAPTR/SRV/A) or an address
    port = 5060                     # optional; without it a name is looked up by SRV
    transport = "udp"               # udp, tcp or tls
    username = "4420001"
    password = "secret"
    realm = "sip.example.net"       # optional: answer only this realm's challenges
    register = true                 # keep a registration at the provider
    register_expires = 600
    from_user = "4420001"           # optional: the user part of our From
    from_domain = "sip.example.net" # optional: the host part of our From (default: host)
    caller_id = "pass"              # pass | anonymous | a fixed number such as "+3312345"
    inbound_addresses = ["192.0.2.0/24", "198.51.100.7:5060"]
    did_prefix_strip = "+33"        # removed from the dialed number of inbound calls

Errors name the key, one line each: ``trunks[1].transport: 'tpc' is not one of
udp, tcp, tls``.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sipline.routing import Dialplan
from sipline.sip import DEFAULT_PORTS

__all__ = [
    "TRANSPORTS",
    "InboundAddress",
    "TrunkConfig",
    "TrunkConfigError",
    "parse_trunks",
    "unknown_trunk_targets",
]

TRANSPORTS = ("udp", "tcp", "tls")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_HOST = re.compile(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+")
#: RFC 3261 §25.1 ``user`` characters (unreserved / escaped / user-unreserved).
_USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")
_CALLER_NUMBER = re.compile(r"\+?[0-9*#]{1,32}")
_KEYS = (
    "name",
    "host",
    "port",
    "transport",
    "username",
    "password",
    "realm",
    "register",
    "register_expires",
    "from_user",
    "from_domain",
    "caller_id",
    "inbound_addresses",
    "did_prefix_strip",
)
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrunkConfigError(ValueError):
    """``[[trunks]]`` that cannot be used; ``problems`` has one line per fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class InboundAddress:
    """A source a trunk's requests come from: a network, optionally one port of it."""

    network: IpNetwork
    port: int | None = None

    def matches(self, host: str, port: int) -> bool:
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        if self.port is not None and self.port != port:
            return False
        return address in self.network

    def __str__(self) -> str:
        text = str(self.network)
        if self.port is None:
            return text
        host = str(self.network.network_address)
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TrunkConfig:
    """One provider: where it is, how we authenticate and present ourselves to it."""

    name: str
    host: str
    port: int | None = None
    transport: str = "udp"
    username: str = ""
    password: str = ""
    realm: str | None = None
    register: bool = False
    register_expires: int = 3600
    from_user: str | None = None
    from_domain: str | None = None
    #: ``pass`` (the caller's number), ``anonymous`` (RFC 3323 Privacy: id) or a number.
    caller_id: str = "pass"
    inbound_addresses: tuple[InboundAddress, ...] = ()
    did_prefix_strip: str = ""

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def uri_params(self) -> str:
        return "" if self.transport == "udp" else f";transport={self.transport}"

    @property
    def domain(self) -> str:
        """The host part of our From/To towards the provider."""
        return self.from_domain or self.realm or self.host

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host.strip("[]"))
        except ValueError:
            return False
        return True

    @property
    def default_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.transport]

    def request_uri(self, user: str) -> str:
        """``sip:USER@HOST[:PORT][;transport=...]`` (sips: over TLS)."""
        scheme = "sips" if self.transport == "tls" else "sip"
        prefix = f"{user}@" if user else ""
        return f"{scheme}:{prefix}{self.hostport}{self.uri_params}"


def parse_trunks(raw: object) -> tuple[TrunkConfig, ...]:
    """Check the ``[[trunks]]`` tables; raises ``TrunkConfigError`` (every problem)."""
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise TrunkConfigError(["trunks: expected an array of tables ([[trunks]] entries)"])
    problems: list[str] = []
    trunks: list[TrunkConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"trunks[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: expected a table with name and host")
            continue
        before = len(problems)
        trunk = _parse_trunk(item, where, problems)
        if trunk is None or len(problems) > before:
            continue
        if trunk.name in seen:
            problems.append(f"{where}.name: {trunk.name!r} is already the name of another trunk")
            continue
        seen.add(trunk.name)
        trunks.append(trunk)
    if problems:
        raise TrunkConfigError(problems)
    return tuple(trunks)


def _parse_trunk(item: Mapping[str, Any], where: str, problems: list[str]) -> TrunkConfig | None:
    for key in item:
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), _KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(_KEYS)}"
            problems.append(f"{where}.{key}: unknown key{hint}")
    check = _Checker(item, where, problems)
    name = check.text("name", required=True, pattern=_NAME, example="provider")
    host = check.text("host", required=True, pattern=_HOST, example="sip.example.net")
    transport = check.choice("transport", TRANSPORTS, "udp")
    port = check.number("port", None, 1, 65535)
    username = check.text("username", pattern=_USER, example="4420001") or ""
    password = check.text("password") or ""
    register = check.flag("register", False)
    if register and not username:
        problems.append(f"{where}.username: a trunk with register = true needs a username")
    caller_id = check.text("caller_id") or "pass"
    if caller_id not in ("pass", "anonymous") and not _CALLER_NUMBER.fullmatch(caller_id):
        problems.append(
            f"{where}.caller_id: {caller_id!r} is not pass, anonymous or a number like +3312345"
        )
    if name is None or host is None:
        return None
    return TrunkConfig(
        name=name,
        host=host.strip("[]"),
        port=port,
        transport=transport,
        username=username,
        password=password,
        realm=check.text("realm"),
        register=register,
        register_expires=check.number("register_expires", 3600, 10, 86400) or 3600,
        from_user=check.text("from_user", pattern=_USER, example="4420001"),
        from_domain=check.text("from_domain", pattern=_HOST, example="sip.example.net"),
        caller_id=caller_id,
        inbound_addresses=_inbound(item.get("inbound_addresses"), where, problems),
        did_prefix_strip=check.text("did_prefix_strip", pattern=_CALLER_NUMBER, example="+33")
        or "",
    )


class _Checker:
    """Reads one key of a trunk table, adding a one-line problem when it is wrong."""

    def __init__(self, item: Mapping[str, Any], where: str, problems: list[str]) -> None:
        self.item = item
        self.where = where
        self.problems = problems

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        pattern: re.Pattern[str] | None = None,
        example: str = "",
    ) -> str | None:
        value = self.item.get(key)
        if value is None:
            if required:
                self.problems.append(f"{self.where}.{key}: missing; give e.g. {key} = {example!r}")
            return None
        if not isinstance(value, str) or (required and not value):
            self.problems.append(f"{self.where}.{key}: must be a string, not {value!r}")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.problems.append(f"{self.where}.{key}: {value!r} is not valid, e.g. {example!r}")
            return None
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.item.get(key, default)
        text = value.lower() if isinstance(value, str) else value
        if text not in choices:
            self.problems.append(
                f"{self.where}.{key}: {value!r} is not one of {', '.join(choices)}"
            )
            return default
        return str(text)

    def number(self, key: str, default: int | None, low: int, high: int) -> int | None:
        value = self.item.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problems.append(
                f"{self.where}.{key}: must be a whole number {low}..{high}, not {value!r}"
            )
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.item.get(key, default)
        if not isinstance(value, bool):
            self.problems.append(f"{self.where}.{key}: must be true or false, not {value!r}")
            return default
        return value


def _inbound(value: object, where: str, problems: list[str]) -> tuple[InboundAddress, ...]:
    """``inbound_addresses``: networks (``192.0.2.0/24``), addresses, or ``IP:PORT``."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f'{where}.inbound_addresses: must be a list of strings, e.g. ["192.0.2.1"]')
        return ()
    out: list[InboundAddress] = []
    for index, text in enumerate(value):
        found = _inbound_address(text)
        if found is None:
            problems.append(
                f"{where}.inbound_addresses[{index}]: {text!r} is not a network, an address "
                "or ADDRESS:PORT (e.g. 192.0.2.0/24, 198.51.100.7:5060)"
            )
        else:
            out.append(found)
    return tuple(out)


def _inbound_address(text: str) -> InboundAddress | None:
    try:
        return InboundAddress(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        pass
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    return InboundAddress(ipaddress.ip_network(address), int(port))


def unknown_trunk_targets(dialplan: Dialplan, names: Iterable[str]) -> list[str]:
    """One line per dialplan ``trunk/NAME/...`` target whose NAME is not a configured
    trunk (names filled in from ``$N`` at call time are not checked)."""
    known = sorted(set(names))
    problems: list[str] = []
    for rule in dialplan.rules:
        for action in rule.actions:
            for group in action.groups:
                for target in group:
                    if target.kind != "trunk" or "$" in target.value:
                        continue
                    if target.value not in known:
                        listed = ", ".join(known) if known else "none ([[trunks]] entries)"
                        problems.append(
                            f"{action.where}: no trunk named {target.value!r}; configured: {listed}"
                        )
    return problems
