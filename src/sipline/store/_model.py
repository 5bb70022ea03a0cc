"""What the stores keep: users, registered bindings and call detail records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sipline.sip import Address, compute_ha1

__all__ = ["Binding", "CdrRecord", "User"]


@dataclass(frozen=True, slots=True)
class User:
    """A local user: ``user@domain`` with its password kept only as HA1 digests.

    HA1 = H(user:realm:password) (RFC 7616 §3.4.2) with the realm being the user's
    domain, as FreeSWITCH does (realm = domain).  Changing a user's domain therefore
    invalidates both digests: the password has to be set again.
    """

    user: str
    domain: str
    ha1_md5: str
    ha1_sha256: str
    display_name: str | None = None
    created_at: float = 0.0

    @property
    def aor(self) -> str:
        """The address-of-record ``user@domain`` (domain lower case)."""
        return f"{self.user}@{self.domain}"

    @classmethod
    def create(
        cls,
        user: str,
        domain: str,
        password: str,
        *,
        display_name: str | None = None,
        created_at: float = 0.0,
    ) -> User:
        """A user whose digests are computed from ``password`` (which is not kept)."""
        domain = domain.lower()
        return cls(
            user=user,
            domain=domain,
            ha1_md5=compute_ha1(user, domain, password, "MD5"),
            ha1_sha256=compute_ha1(user, domain, password, "SHA-256"),
            display_name=display_name,
            created_at=created_at,
        )

    def ha1(self, algorithm: str) -> str | None:
        """The stored HA1 for a digest ``algorithm`` (MD5 or SHA-256), else None.

        An empty digest (a user imported with only the other one) gives None too.
        """
        name = algorithm.upper()
        if name == "MD5":
            return self.ha1_md5 or None
        if name == "SHA-256":
            return self.ha1_sha256 or None
        return None


@dataclass(frozen=True, slots=True)
class Binding:
    """One Contact bound to an address-of-record (RFC 3261 §10.3).

    ``key`` identifies the binding within its AOR: ``+sip.instance`` with ``reg-id``
    when the phone sent both (RFC 5626 §6), else the Contact URI as first registered
    (later REGISTERs are matched to it with the URI comparison rules of §19.1.4).
    ``contact`` is the Contact as registered (name-addr with its parameters, without
    ``expires``).  ``source`` is where the REGISTER came from (the address to reach
    a phone behind NAT, and the connection for stream transports); ``local`` the
    listener that received it.  Times are absolute wall-clock seconds.
    """

    aor: str
    key: str
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    source: Address
    local: Address
    q: float | None = None
    instance: str | None = None
    reg_id: int | None = None
    path: tuple[str, ...] = ()
    user_agent: str | None = None
    registered_at: float = 0.0

    def expires_in(self, now: float) -> int:
        """Whole seconds left (0 once expired), for the ``expires=`` of a 200 OK."""
        left = self.expires_at - now
        return int(left + 0.5) if left > 0 else 0


@dataclass(frozen=True, slots=True)
class CdrRecord:
    """A call detail record: indexed fields plus a free JSON-able ``data`` mapping.

    ``id`` is given by the store on :meth:`CdrStore.append`.
    """

    start_time: float
    caller: str
    callee: str
    call_ids: tuple[str, ...] = ()
    cause: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
