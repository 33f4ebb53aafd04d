"""`flask --app gateway make-admin USERNAME`: the only way to get an admin."""
import click
from flask import current_app

from convertix.contract import ACCOUNTS_SERVICE, ADMIN_ROLE
from gateway.rpc import rpc_pool


def init_app(app):
    @app.cli.command("make-admin")
    @click.argument("username")
    def make_admin(username):
        """Give USERNAME the admin role."""
        user = rpc_pool(current_app).call(ACCOUNTS_SERVICE, "grant_role", username, ADMIN_ROLE)
        click.echo(f"{user['username']} now has roles: {', '.join(user['roles'])}")
