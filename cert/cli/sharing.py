"""``cert sharing …``: signed bundles for partners with no link: make a key pair, export an
incident for a partner as a signed STIX 2.1 bundle (through the sharing policy), import a
partner's signed bundle into the indicator store (refused whole when its signature fails)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cert.core.errors import ConfigError, NotFound

if TYPE_CHECKING:
    from cert.runtime.platform import Platform


def cmd_keygen(p: Platform, args: argparse.Namespace) -> int:
    from cert.sharing.signed_bundles import generate

    private, public = generate(Path(args.directory), args.name)
    print(f"private key {private} (keep it; setting sharing_signing_key_file)")
    print(f"public key {public} (give it to partners; their setting sharing_trusted_keys)")
    return 0


def cmd_export(p: Platform, args: argparse.Namespace) -> int:
    from cert.incidents.cases import get_case
    from cert.sharing.policy import require_channel, share_case, terms_of
    from cert.sharing.signed_bundles import write_signed
    from cert.sharing.stix_export import export_with_sightings
    from cert.storage import audit

    key = p.settings.sharing_signing_key_file
    if key is None:
        raise ConfigError("no signing key: set sharing_signing_key_file (cert sharing keygen makes one)")
    partner = p.constituency.partner(args.partner)
    if partner is None:
        raise NotFound(f"no partner named {args.partner!r}")
    require_channel(partner.id, partner.channels, "stix")
    with p.db.session() as s:
        case = get_case(s, args.case)
        shared = share_case(case, terms_of(partner.tlp_ceiling, partner.pap), organization=case.organization)
        export = export_with_sightings(s, case, shared, p.settings)
        out = Path(args.out)
        sig = write_signed(out, export.serialize().encode("utf-8"), key)
        audit.record(s, f"cli:{args.actor}", "sharing.bundle_export", "case", case.id, partner=partner.id,
                     terms=shared.terms.label, file=out.name,
                     items=[{"id": i, "type": item.type, "value": item.value, "tlp": item.tlp.label}
                            for i, item in export.sent])
    print(f"{out}: {len(export.sent)} indicator(s) for {partner.id}, {len(shared.withheld)} withheld; "
          f"signature {sig}")
    return 0


def cmd_import(p: Platform, args: argparse.Namespace) -> int:
    from cert.sharing.signed_bundles import import_bundle

    trusted = [Path(k) for k in p.settings.sharing_trusted_keys]
    with p.db.session() as s:
        report = import_bundle(s, Path(args.file), trusted, args.source)
    print(f"{args.file}: signature checked; {report.read} read, {report.inserted} new, {report.updated} updated, "
          f"{len(report.errors)} refused")
    for error in report.errors[:20]:
        print(f"  {error}")
    return 0


def cmd_pull(p: Platform, args: argparse.Namespace) -> int:
    """Pull the partners' TAXII collections and MISP feeds that are due (each at its poll_minutes);
    with --loop, keep doing it. One partner's failure is printed and the others are still pulled."""
    import time

    from cert.cli.misp import print_result as print_misp
    from cert.cli.taxii import print_result as print_taxii
    from cert.sharing import misp_pull, taxii_client

    taxii_state = taxii_client.StateFile(p.settings.data_dir)
    misp_state = misp_pull.StateFile(p.settings.data_dir)
    if args.loop:
        print(f"polling the TAXII sources and MISP feeds at their poll_minutes, checking every {args.every} s; "
              "Ctrl-C to stop", flush=True)
    ok = True
    try:
        while True:
            for src in taxii_client.due(p.settings):
                result = taxii_client.pull(p.db, taxii_state, src)
                ok = ok and result.ok
                print_taxii(result)
            for feed in misp_pull.due(p.settings):
                outcome = misp_pull.pull(p.db, misp_state, feed)
                ok = ok and outcome.ok
                print_misp(outcome)
            if not args.loop:
                return 0 if ok else 1
            time.sleep(args.every)
    except KeyboardInterrupt:
        return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sh = sub.add_parser("sharing", help="partner exchange: signed bundles (keygen, export, import), "
                                        "scheduled pulls (pull)")
    ssub = sh.add_subparsers(dest="sharing_command", required=True)
    kg = ssub.add_parser("keygen", help="make an Ed25519 key pair (NAME.key, NAME.pub)")
    kg.add_argument("directory")
    kg.add_argument("--name", default="vigie-sharing")
    kg.set_defaults(func=cmd_keygen)
    ex = ssub.add_parser("export-bundle", help="an incident for a partner as a signed STIX 2.1 bundle")
    ex.add_argument("case", type=int)
    ex.add_argument("--partner", required=True)
    ex.add_argument("--out", required=True, help="the bundle file (its signature goes beside it, .sig)")
    ex.add_argument("--actor", default="analyst", help="who exports (recorded as cli:NAME)")
    ex.set_defaults(func=cmd_export)
    im = ssub.add_parser("import-bundle", help="a partner's signed STIX bundle into the indicator store")
    im.add_argument("file")
    im.add_argument("--source", required=True, help="the partner's name for the indicators")
    im.set_defaults(func=cmd_import)
    pl = ssub.add_parser("pull", help="pull the TAXII sources and MISP feeds that are due (poll_minutes)")
    pl.add_argument("--loop", action="store_true", help="keep polling: what docker/compose.yaml runs")
    pl.add_argument("--every", type=float, default=30.0, help="with --loop: how often to look for due sources (s)")
    pl.set_defaults(func=cmd_pull)
