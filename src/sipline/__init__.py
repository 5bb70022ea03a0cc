"""sipline: a SIP softswitch and SIP trace analyzer."""

__version__ = "0.1.0"
