"""Run the SuccessFactors fake standalone.

Example::

    python -m fakes.successfactors --port 8301 --users 1000 --seed 7 --client-id tandem
        --company-id ACME --certificate cert.pem [--dataset people.json]

Threaded werkzeug server, no access log; one line on stderr once it listens.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from werkzeug.serving import make_server

from fakes.successfactors.app import create_app
from fakes.successfactors.server import _QuietHandler
from fakes.successfactors.tenant import FakeTenant

__all__ = ["build_tenant", "main", "parser"]


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="python -m fakes.successfactors", description=__doc__.splitlines()[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8301)
    p.add_argument(
        "--base-url", help="absolute base for __next/__metadata (default: the request host)"
    )
    p.add_argument("--company-id", default="ACME")
    p.add_argument(
        "--users", type=int, default=1000, help="users to generate (0 with --dataset only)"
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--inactive-share", type=float, default=0.03)
    p.add_argument(
        "--skills", action="store_true", help="add the default skill catalogue and ratings"
    )
    p.add_argument(
        "--dataset", type=Path, help="JSON dataset (list of SF users, or {users, skills, ratings})"
    )
    p.add_argument("--edmx", type=Path, help="EDMX to serve instead of the bundled one")
    p.add_argument(
        "--client-id", default="tandem", help="OAuth2 client (API key) for the SAML bearer flow"
    )
    p.add_argument("--certificate", type=Path, help="PEM certificate registered for --client-id")
    p.add_argument(
        "--api-user", default="sfadmin", help="the API user (SAML NameID / basic auth user)"
    )
    p.add_argument("--password", help="enable basic auth for --api-user with this password")
    p.add_argument(
        "--learning-client-id", help="Learning token server client (default: --client-id)"
    )
    p.add_argument("--learning-secret", help="Learning token server client secret")
    p.add_argument("--token-lifetime", type=int, default=3600)
    return p


def build_tenant(args: argparse.Namespace) -> FakeTenant:
    """The tenant the arguments describe."""
    tenant = FakeTenant(
        company_id=args.company_id,
        base_url=args.base_url,
        token_lifetime=args.token_lifetime,
    )
    if args.dataset:
        tenant.load(args.dataset)
    if args.users:
        tenant.generate_users(n=args.users, seed=args.seed, inactive_share=args.inactive_share)
    if args.skills:
        tenant.generate_skills(seed=args.seed)
    tenant.add_api_user(args.api_user)
    if args.certificate:
        tenant.register_client(
            client_id=args.client_id,
            certificate_pem=args.certificate.read_text(encoding="ascii"),
            user_id=args.api_user,
        )
    if args.password:
        tenant.set_basic_password(user_id=args.api_user, password=args.password)
    else:
        tenant.basic_auth_enabled = False
    if args.learning_secret:
        tenant.register_learning_client(
            client_id=args.learning_client_id or args.client_id, client_secret=args.learning_secret
        )
    return tenant


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted."""
    args = parser().parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    tenant = build_tenant(args)
    app = create_app(tenant, edmx=args.edmx)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=_QuietHandler)
    sys.stderr.write(
        f"SuccessFactors fake for company {tenant.company_id} ({tenant.user_count} users) "
        f"on http://{args.host}:{server.port}\n"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
