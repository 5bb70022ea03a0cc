"""SIP trace analysis: read any trace, group it into calls, name the phases, explain
each message, diagnose failures, and draw the ladder (text, SVG, HTML, Mermaid, JSON).

    records = read_traces(["call.pcap"])          # readers -> TraceRecord
    flows = analyse(records)                      # parse, group, phases, diagnoses
"""

from ._analyse import analyse, detail_flow
from ._model import Diagnosis, Flow, Leg, Party, Phase
from ._parsed import TracedMessage, parse_records
from ._readers import INPUT_FORMATS, detect_format, read_records, read_trace, read_traces
from ._record import LOCAL, Direction, Endpoint, Origin, TraceFormatError, TraceRecord

__all__ = [
    "INPUT_FORMATS",
    "LOCAL",
    "Diagnosis",
    "Direction",
    "Endpoint",
    "Flow",
    "Leg",
    "Origin",
    "Party",
    "Phase",
    "TraceFormatError",
    "TraceRecord",
    "TracedMessage",
    "analyse",
    "detail_flow",
    "detect_format",
    "parse_records",
    "read_records",
    "read_trace",
    "read_traces",
]
