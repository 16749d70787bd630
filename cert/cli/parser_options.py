"""The per-source parser settings (``cert.core.parser.ParserOptions``) as command-line options,
shared by ``cert ingest`` and ``cert listen``."""

from __future__ import annotations

import argparse

from cert.core.parser import ParserOptions


def add_parser_options(command: argparse.ArgumentParser) -> None:
    """The per-source parser settings (``ParserOptions``) as options of ``command``."""
    command.add_argument("--timezone", metavar="ZONE",
                         help="IANA time zone (e.g. Africa/Abidjan) of timestamps written without one, such as "
                              "RFC 3164 syslog in local time (default: UTC); recorded in event.timezone")
    command.add_argument("--receive-time", action="store_true",
                         help="a record with no time of its own (CEF without syslog header or rt) takes the time "
                              "it is ingested, tagged time_from_receipt (default: it is dead-lettered)")


def parser_options(args: argparse.Namespace) -> ParserOptions:
    return ParserOptions(timezone=args.timezone or None, receive_time=bool(args.receive_time))
