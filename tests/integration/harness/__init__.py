"""Integration-test harness: real SIP peers (SIPp, baresip), the sipline server and a
packet capture, each a process on 127.0.0.1 stopped by its PID when the test ends.

The fixtures in tests/integration/conftest.py build these; import the classes from here
for type annotations and the helpers (account_line, auth_rows, ...) for test data.
"""

from ._baresip import Baresip, account_line
from ._capture import Tshark, pcap_packet_count, port_filter
from ._factories import BaresipFactory, CaptureFactory, ServerFactory
from ._peer import UdpSipPeer
from ._ports import free_port, free_ports, port_is_bound, wait_bound
from ._process import ManagedProcess, ProcessGroup
from ._server import ServerProcess, import_users, options_ping
from ._sipp import (
    SCENARIOS,
    SippFactory,
    SippOptions,
    SippProcess,
    SippResult,
    auth_rows,
    read_stat_file,
    write_injection_file,
)
from ._tools import in_ci, require_tool

__all__ = [
    "SCENARIOS",
    "Baresip",
    "BaresipFactory",
    "CaptureFactory",
    "ManagedProcess",
    "ProcessGroup",
    "ServerFactory",
    "ServerProcess",
    "SippFactory",
    "SippOptions",
    "SippProcess",
    "SippResult",
    "Tshark",
    "UdpSipPeer",
    "account_line",
    "auth_rows",
    "free_port",
    "free_ports",
    "import_users",
    "in_ci",
    "options_ping",
    "pcap_packet_count",
    "port_filter",
    "port_is_bound",
    "read_stat_file",
    "require_tool",
    "wait_bound",
    "write_injection_file",
]
