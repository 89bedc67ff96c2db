"""antibot: an inline SIP proxy that stops robocalls, scanners and fraud bots before the PBX."""

__version__ = "0.1.0"
