"""Coverage-guided fuzzing of the SIP parser and stream framer with atheris.

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/fuzz_parser.py tests/data/torture -max_total_time=600

Any exception other than ``SipParseError`` (or a crash) is a bug.  The torture
messages make a good seed corpus.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from sipline.sip import SipParseError, StreamFramer, parse_message

VIEWS = ("vias", "from_", "to", "call_id", "cseq", "max_forwards", "contacts", "routes", "expires")


def test_one_input(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError:
        message = None
    if message is not None:
        bytes(message)
        for view in VIEWS:
            try:
                getattr(message, view)
            except SipParseError:
                pass
    framer = StreamFramer(max_message_size=4096)
    try:
        for i in range(0, len(data), 7):
            framer.feed(data[i : i + 7])
    except SipParseError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
