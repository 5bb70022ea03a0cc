"""sipline.trace: the live SIP trace at the transport edge (DESIGN.md "Trace taps the
edge"; STYLE.md convention 10).

    control = make_trace(config.trace, config.server.data_dir)
    endpoint = Endpoint(endpoint_config, app, trace=[control])
    control.set_enabled(True)                    # at run time, from the admin API
    control.ladder_for(call_id, "html")          # the ladder of a live call
    control.close()                              # at shutdown

Writers: the siptrace text log (read back by ``sipline ladder``), a pcap file
(Ethernet/IP/UDP or TCP synthesized) and a HEPv3 collector; a bounded memory ring of
recent messages as ``sipline.analysis.TraceRecord``.
"""

from ._control import DEFAULT_MEMORY_RECORDS, TraceControl, TraceWriter, make_trace
from ._files import RotatingFile
from ._hep import HepSender, encode_hep3, parse_host_port
from ._pcap import PCAP_HEADER, PcapPacketBuilder, PcapWriter
from ._siptrace import SiptraceWriter, format_siptrace

__all__ = [
    "DEFAULT_MEMORY_RECORDS",
    "PCAP_HEADER",
    "HepSender",
    "PcapPacketBuilder",
    "PcapWriter",
    "RotatingFile",
    "SiptraceWriter",
    "TraceControl",
    "TraceWriter",
    "encode_hep3",
    "format_siptrace",
    "make_trace",
    "parse_host_port",
]
