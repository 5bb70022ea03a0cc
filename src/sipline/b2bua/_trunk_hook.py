"""Where the trunk layer (``sipline.trunks``) plugs into the B2BUA: ``trunk/NAME/NUMBER``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sipline.b2bua._build import CallerId
from sipline.b2bua._call import Call, Leg
from sipline.routing import Target

if TYPE_CHECKING:
    from sipline.b2bua._b2bua import B2bua

__all__ = ["TrunkDialer"]


class TrunkDialer(Protocol):
    """Places the b-legs of ``trunk/NAME/NUMBER`` targets."""

    def start_legs(
        self, b2bua: B2bua, call: Call, target: Target, caller_id: CallerId, offer: bytes
    ) -> list[Leg]:
        """The b-legs for ``target``, their INVITEs already sent (``leg.client`` set);
        none, with a ``Failure`` added to ``call.failures``, when the trunk cannot be used.
        """
        ...
