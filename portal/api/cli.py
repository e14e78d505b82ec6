"""``flask tokens create EMAIL [--name NAME]``: a personal access token from the command line.

The token is printed alone on the last line, so a script can take it with ``tail -n 1``.
"""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

tokens = AppGroup("tokens", help="Personal access tokens for the API.")


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="Command line", show_default=True, help="What the token is for.")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 365))
@click.option(
    "--request-certificates",
    is_flag=True,
    help="Let the token request certificates and portfolio reports (otherwise read-only).",
)
def create(email: str, name: str, days: int, request_certificates: bool) -> None:
    """Create a token for the account with EMAIL and print it (shown once)."""
    from portal.extensions import db
    from portal.models import User
    from portal.services import ServiceError, api_tokens

    user = db.session.execute(
        sa.select(User).where(sa.func.lower(User.email) == email.strip().lower())
    ).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"There is no account with the email address {email}.")
    try:
        token, raw = api_tokens.create_token(
            user, name, days=days, request_certificates=request_certificates
        )
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    from portal.plain import day

    access = "may request certificates and reports" if token.scopes else "read-only"
    click.echo(
        f"Token {token.name!r} for {user.email}, {access}, expires {day(token.expires_at)}. "
        "It is shown only now:"
    )
    click.echo(raw)
