"""registry-node: a state's registry of trusted Learning and Employment Record issuers."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
