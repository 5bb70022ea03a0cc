"""Trunks to upstream SIP providers (issue #6).

Wiring (the server does this)::

    trunks = Trunks(parse_trunks(config.trunks))
    b2bua.trunks = trunks                 # dialplan ``bridge trunk/NAME/NUMBER``
    trunks.start(endpoint)                # registrations, once the endpoint runs
    dispatcher: trunks.inbound(incoming)  # a provider's INVITE: trusted, DID routed
    AdminServer(..., trunks=trunks)       # GET /api/trunks
    await trunks.stop()                   # unREGISTER

``TrunkConfig`` is one checked ``[[trunks]]`` table; ``TrunkRegistration`` the
sans-I/O registration of one trunk; ``AuthenticatedClient`` / ``TrunkDialog`` answer
a provider's 401/407 for an INVITE and the later requests of its dialog.
"""

from sipline.trunks._auth import (
    AuthenticatedClient,
    DigestCache,
    TrunkDialog,
    TrunkDialogSet,
    authorized_retry,
)
from sipline.trunks._config import (
    TRANSPORTS,
    InboundAddress,
    TrunkConfig,
    TrunkConfigError,
    parse_trunks,
    unknown_trunk_targets,
)
from sipline.trunks._outbound import present_caller, presented_number, trunk_leg
from sipline.trunks._registration import (
    REGISTRATION_TRANSITIONS,
    RegistrationInput,
    RegistrationState,
    RegistrationTimers,
    TrunkRegistration,
    refresh_delay,
)
from sipline.trunks._trunks import Trunks, normalise_did

__all__ = [
    "REGISTRATION_TRANSITIONS",
    "TRANSPORTS",
    "AuthenticatedClient",
    "DigestCache",
    "InboundAddress",
    "RegistrationInput",
    "RegistrationState",
    "RegistrationTimers",
    "TrunkConfig",
    "TrunkConfigError",
    "TrunkDialog",
    "TrunkDialogSet",
    "TrunkRegistration",
    "Trunks",
    "authorized_retry",
    "normalise_did",
    "parse_trunks",
    "present_caller",
    "presented_number",
    "refresh_delay",
    "trunk_leg",
    "unknown_trunk_targets",
]
