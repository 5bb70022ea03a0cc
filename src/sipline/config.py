"""The configuration file (``sipline.toml``): typed sections, validated at load.

Every key has a default, so ``sipline serve`` runs with no file at all.  Errors
are ``ConfigError`` with one line per problem naming the key, what is wrong and
how to fix it.  Sections are frozen dataclasses handed down to each layer
(STYLE.md convention 11); nothing here is global.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from sipline import __version__


class ConfigError(ValueError):
    """The configuration is invalid; ``problems`` has one line per error."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ServerSection:
    #: ``b2bua`` (calls bridged through the server) or ``proxy`` (RFC 3261 §16).
    mode: str = "b2bua"
    #: Listeners as TRANSPORT:HOST:PORT (udp, tcp, tls, ws, wss).
    listen: tuple[str, ...] = ("udp:0.0.0.0:5060", "tcp:0.0.0.0:5060")
    #: Domains the server is authoritative for; empty = its own addresses.
    domains: tuple[str, ...] = ()
    #: Where the SQLite database, secrets, TLS certificate and traces live.
    data_dir: str = "sipline-data"
    #: Address put in Via/Contact when listening on a wildcard address.
    advertised_host: str = ""
    user_agent: str = f"sipline/{__version__}"
    #: ``debug``, ``info``, ``warning`` or ``error``.
    log_level: str = "info"
    #: ``text`` or ``json``.
    log_format: str = "text"
    #: Seconds calls in progress are given to end on SIGTERM (new INVITEs get 503).
    shutdown_grace: int = 30


@dataclass(frozen=True)
class TransactionsSection:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


@dataclass(frozen=True)
class TransportSection:
    max_message_size: int = 65535
    #: Seconds before an unused TCP/TLS/WS connection is closed.
    idle_timeout: float = 600.0
    #: TLS certificate and key (PEM); empty = a self-signed pair made at first start.
    tls_certificate: str = ""
    tls_private_key: str = ""


@dataclass(frozen=True)
class RegistrarSection:
    default_expires: int = 3600
    min_expires: int = 60
    max_expires: int = 7200


@dataclass(frozen=True)
class AuthSection:
    #: Challenge REGISTER (401) and out-of-dialog requests such as INVITE (407).
    register: bool = True
    invite: bool = True
    #: Source networks (CIDR) that are never challenged, e.g. a trunk provider.
    trusted_networks: tuple[str, ...] = ()
    #: Digest algorithms offered, most preferred first (RFC 8760).  MD5 leads by
    #: default because many phones (and SIPp) answer only the first challenge.
    algorithms: tuple[str, ...] = ("MD5", "SHA-256")
    #: User-Agent prefixes offered MD5 alone: phones that fail on a SHA-256 challenge.
    md5_only_agents: tuple[str, ...] = ("baresip",)
    nonce_lifetime: int = 300
    #: Failed attempts from one source (or for one user) within ``failure_window``
    #: seconds before the source is blocked for ``block_time`` seconds.
    max_failures: int = 10
    failure_window: int = 60
    block_time: int = 600


@dataclass(frozen=True)
class CallsSection:
    #: Seconds a call may ring before it is cancelled (480 to the caller).
    call_timeout: int = 30


@dataclass(frozen=True)
class MediaSection:
    #: ``relay`` (media anchored in sipline's RTP relay) or ``bypass`` (end to end).
    mode: str = "relay"
    rtp_ports: str = "16384-32767"
    #: Seconds without RTP from a leg before the call is hung up (0 = never).
    media_timeout: int = 60


@dataclass(frozen=True)
class TraceSection:
    enabled: bool = False
    #: siptrace-style text log, relative to data_dir.
    file: str = "trace/siptrace.log"
    #: pcap file of every SIP message, relative to data_dir ("" = none).
    pcap: str = ""
    #: HEPv3 collector HOST:PORT ("" = none).
    hep: str = ""
    max_bytes: int = 50_000_000
    backups: int = 5


@dataclass(frozen=True)
class AdminSection:
    #: HOST:PORT of the admin API and web console, or "off".
    listen: str = "127.0.0.1:8080"


@dataclass(frozen=True)
class Config:
    server: ServerSection = field(default_factory=ServerSection)
    transactions: TransactionsSection = field(default_factory=TransactionsSection)
    transport: TransportSection = field(default_factory=TransportSection)
    registrar: RegistrarSection = field(default_factory=RegistrarSection)
    auth: AuthSection = field(default_factory=AuthSection)
    calls: CallsSection = field(default_factory=CallsSection)
    media: MediaSection = field(default_factory=MediaSection)
    trace: TraceSection = field(default_factory=TraceSection)
    admin: AdminSection = field(default_factory=AdminSection)
    #: Ordered dialplan rules, validated by ``sipline.routing``.
    dialplan: tuple[Mapping[str, Any], ...] = ()
    #: Trunks to providers, validated by the trunk layer.
    trunks: tuple[Mapping[str, Any], ...] = ()
    #: The file it came from, if any.
    source: str | None = None

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)


_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("server", "mode"): ("b2bua", "proxy"),
    ("server", "log_level"): ("debug", "info", "warning", "error"),
    ("server", "log_format"): ("text", "json"),
    ("media", "mode"): ("relay", "bypass"),
}
_LISTS = ("dialplan", "trunks")


def load_config(path: str | Path | None = None, **overrides: Mapping[str, Any]) -> Config:
    """Read and validate ``path`` (None: defaults only); ``overrides`` are sections
    of values from the command line, applied over the file's.  Raises ``ConfigError``."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError([f"{path}: no such file; give the path of a sipline.toml"]) from None
        except OSError as exc:
            raise ConfigError([f"{path}: cannot read it ({exc.strerror})"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    for section, values in overrides.items():
        merged = dict(data.get(section, {}))
        merged.update({k: v for k, v in values.items() if v is not None})
        data[section] = merged
    return config_from_dict(data, source=str(path) if path is not None else None)


def config_from_dict(data: Mapping[str, Any], *, source: str | None = None) -> Config:
    problems: list[str] = []
    sections: dict[str, Any] = {}
    hints = get_type_hints(Config)
    known = [f.name for f in dataclasses.fields(Config) if f.name != "source"]
    for name, value in data.items():
        if name not in known:
            problems.append(f"unknown section [{name}]{_suggest(name, known)}")
        elif name in _LISTS:
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                problems.append(f"{name}: must be an array of tables ([[{name}]] entries)")
            else:
                sections[name] = tuple(value)
        elif not isinstance(value, dict):
            problems.append(f"{name}: must be a table ([{name}])")
        else:
            sections[name] = _section(name, hints[name], value, problems)
    if problems:
        raise ConfigError(problems)
    config = Config(**sections, source=source)
    _check_semantics(config, problems)
    if problems:
        raise ConfigError(problems)
    return config


def _section(name: str, cls: type[Any], values: Mapping[str, Any], problems: list[str]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            problems.append(f"{name}.{key}: unknown key{_suggest(key, list(fields))}")
            continue
        converted = _convert(f"{name}.{key}", hints[key], value, problems)
        if converted is not None:
            choices = _CHOICES.get((name, key))
            if choices and converted not in choices:
                problems.append(f"{name}.{key}: {converted!r} is not one of {', '.join(choices)}")
                continue
            kwargs[key] = converted
    return cls(**kwargs)


def _convert(key: str, hint: Any, value: Any, problems: list[str]) -> Any:
    origin = get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(f'{key}: must be a list of strings, e.g. ["a", "b"]')
            return None
        return tuple(value)
    if origin in (Union, types.UnionType):
        hint = next(a for a in get_args(hint) if a is not type(None))
    if hint is bool:
        if not isinstance(value, bool):
            problems.append(f"{key}: must be true or false, not {value!r}")
            return None
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{key}: must be a whole number >= 0, not {value!r}")
            return None
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(f"{key}: must be a number > 0, not {value!r}")
            return None
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            problems.append(f"{key}: must be a string, not {value!r}")
            return None
        return value
    problems.append(f"{key}: unsupported value {value!r}")
    return None


def _check_semantics(config: Config, problems: list[str]) -> None:
    from sipline.transport import parse_listen_spec  # the edge validates its own specs

    if not config.server.listen:
        problems.append('server.listen: give at least one listener, e.g. ["udp:0.0.0.0:5060"]')
    for index, spec in enumerate(config.server.listen):
        try:
            parse_listen_spec(spec)
        except ValueError as exc:
            problems.append(f"server.listen[{index}]: {exc}")
    t = config.transactions
    if not t.t1 <= t.t2:
        problems.append(f"transactions.t2: must be >= t1 ({t.t1}), not {t.t2}")
    r = config.registrar
    if not r.min_expires <= r.default_expires <= r.max_expires:
        problems.append(
            "registrar: need min_expires <= default_expires <= max_expires, got "
            f"{r.min_expires}, {r.default_expires}, {r.max_expires}"
        )
    low, _, high = config.media.rtp_ports.partition("-")
    if not (low.isdigit() and high.isdigit() and 1024 <= int(low) < int(high) <= 65535):
        problems.append(
            f'media.rtp_ports: {config.media.rtp_ports!r} is not a range LOW-HIGH within 1024-65535, e.g. "16384-32767"'
        )
    admin = config.admin.listen
    if admin != "off":
        host, sep, port = admin.rpartition(":")
        if not sep or not port.isdigit() or not host:
            problems.append(
                f'admin.listen: {admin!r} is not HOST:PORT (e.g. 127.0.0.1:8080) or "off"'
            )
    if config.dialplan:
        from sipline.routing import DialplanError, parse_dialplan

        try:
            parse_dialplan(config.dialplan)
        except DialplanError as exc:
            problems.append(str(exc))
    if config.trunks or config.dialplan:
        _check_trunks(config, problems)
    if config.trace.hep:
        from sipline.trace import parse_host_port

        try:
            parse_host_port(config.trace.hep)
        except ValueError as exc:
            problems.append(f"trace.hep: {exc}")
    for index, algorithm in enumerate(config.auth.algorithms):
        if algorithm.upper() not in ("MD5", "SHA-256"):
            problems.append(f"auth.algorithms[{index}]: {algorithm!r} is not MD5 or SHA-256")
    if not config.auth.algorithms:
        problems.append('auth.algorithms: offer at least one, e.g. ["MD5", "SHA-256"]')
    for index, network in enumerate(config.auth.trusted_networks):
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            problems.append(
                f"auth.trusted_networks[{index}]: {network!r} is not a network such as 10.0.0.0/8"
            )


def _check_trunks(config: Config, problems: list[str]) -> None:
    """``[[trunks]]``, and the dialplan's trunk/NAME targets against their names."""
    from sipline.routing import DialplanError, parse_dialplan
    from sipline.trunks import TrunkConfigError, parse_trunks, unknown_trunk_targets

    try:
        names = [trunk.name for trunk in parse_trunks(config.trunks)]
        problems.extend(unknown_trunk_targets(parse_dialplan(config.dialplan), names))
    except TrunkConfigError as exc:
        problems.extend(exc.problems)
    except DialplanError:
        pass  # reported by the dialplan check


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(options)}"


def config_keys() -> list[str]:
    """Every ``section.key`` of the file (the README documents each one)."""
    keys: list[str] = []
    hints = get_type_hints(Config)
    for section in dataclasses.fields(Config):
        if section.name in (*_LISTS, "source"):
            continue
        keys.extend(
            f"{section.name}.{item.name}" for item in dataclasses.fields(hints[section.name])
        )
    return keys
