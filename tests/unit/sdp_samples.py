"""SDP bodies of the phones in the seeds, as test data.

LINPHONE is seed 003's INVITE (Linphone to Flexisip), written back from the Wireshark
dissection the seed shows: the session ``c=`` is the phone's private address and the
media ``c=`` its public one, ICE candidates included.  (The dissection prints the
fmtp lines as ``fmp:`` and cuts two candidate lines; the caller's and callee's views
together give the full lines.)

Seed 001 (X-Lite 3 -> FreeSWITCH -> Zoiper) leaves its bodies out ("SDP omitted"); the
X-Lite, Zoiper and FreeSWITCH bodies below are the shape those user agents send (their
o=/s= lines, X-Lite's ``a=alt`` and BV32, FreeSWITCH's ``a=silenceSupp``), at the
addresses and with the user agents of that trace, not bytes copied from it.
"""

from __future__ import annotations


def crlf(text: str) -> bytes:
    return text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n"


LINPHONE = crlf("""
v=0
o=yhx 3284 4004 IN IP4 192.168.101.13
s=Talk
c=IN IP4 192.168.101.13
t=0 0
a=ice-pwd:9977ebde0f31238471766a86
a=ice-ufrag:008ffcec
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVPF 96 97 98 0 8 101 99 100
c=IN IP4 122.137.129.21
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=candidate:1 1 UDP 2130706431 192.168.101.13 7078 typ host
a=candidate:1 2 UDP 2130706430 192.168.101.13 7079 typ host
a=candidate:2 1 UDP 1694498815 122.137.129.21 7078 typ srflx raddr 192.168.101.13 rport 7078
a=candidate:2 2 UDP 1694498814 122.137.129.21 7079 typ srflx raddr 192.168.101.13 rport 7079
a=rtcp-fb:* trr-int 5000
a=rtcp-fb:* ccm tmmbr
""")

XLITE = crlf("""
v=0
o=- 5 2 IN IP4 192.168.4.4
s=CounterPath X-Lite 3.0
c=IN IP4 192.168.4.4
t=0 0
m=audio 21964 RTP/AVP 107 0 8 101
a=alt:1 1 : m2Vh7N7i 3nYuSDi1 192.168.4.4 21964
a=fmtp:101 0-15
a=rtpmap:107 BV32/16000
a=rtpmap:101 telephone-event/8000
a=sendrecv
""")

ZOIPER = crlf("""
v=0
o=Zoiper_user 0 0 IN IP4 192.168.4.4
s=Zoiper_session
c=IN IP4 192.168.4.4
t=0 0
m=audio 8000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
""")

FREESWITCH = crlf("""
v=0
o=FreeSWITCH 1257112829 1257112830 IN IP4 192.168.4.4
s=FreeSWITCH
c=IN IP4 192.168.4.4
t=0 0
m=audio 27718 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=silenceSupp:off - - - -
a=ptime:20
""")

#: Audio + video + a T.38 fax stream, media-level c= only, rtcp-mux and a=rtcp.
MULTI = crlf("""
v=0
o=alice 2890844526 2890844527 IN IP4 198.51.100.7
s=-
t=0 0
a=sendrecv
m=audio 49170 RTP/AVP 8 0 96
c=IN IP4 198.51.100.7
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-15
a=rtcp:53020 IN IP4 198.51.100.8
a=rtcp-mux
a=ptime:30
m=video 51372 RTP/AVP 99
c=IN IP4 198.51.100.7
a=rtpmap:99 H264/90000
a=fmtp:99 profile-level-id=42e01f
m=image 6000 udptl t38
c=IN IP4 198.51.100.7
a=T38FaxVersion:0
""")

ALL = {"linphone": LINPHONE, "xlite": XLITE, "zoiper": ZOIPER, "freeswitch": FREESWITCH}
