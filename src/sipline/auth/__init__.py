"""Digest authentication policy: challenges, stateless nonces, replay and brute-force guards.

Typical wiring::

    secret = load_or_create_secret(data_dir)
    authenticator = Authenticator(
        store,                                   # a UserStore
        NonceFactory(secret, lifetime=300),
        AuthConfig(trusted_networks=("10.0.0.0/8",)),
        guard=BruteForceGuard(threshold=10, window=60, block_time=600),
        counter=NonceCounter(not_before=time.time()),
    )
    result = authenticator.check(request, source=src, realm=domain, proxy=False, now=now)
"""

from sipline.auth._authenticator import (
    AuthConfig,
    Authenticator,
    Authorized,
    AuthResult,
    Blocked,
    Challenge,
    Forbidden,
)
from sipline.auth._guard import BruteForceGuard
from sipline.auth._nonce import NonceCounter, NonceFactory, NonceStatus, NonceValidator

__all__ = [
    "AuthConfig",
    "AuthResult",
    "Authenticator",
    "Authorized",
    "Blocked",
    "BruteForceGuard",
    "Challenge",
    "Forbidden",
    "NonceCounter",
    "NonceFactory",
    "NonceStatus",
    "NonceValidator",
]
