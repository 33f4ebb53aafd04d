"""`flask --app gateway make-admin USERNAME`: the only way to get an admin."""
import click
from flask import current_app

from gateway.rpc import rpc_pool


def init_app(app):
    @app.cli.command("make-admin")
    @click.argument("username")
    def make_admin(username):
        """Give USERNAME the admin role."""
        user = rpc_pool(current_app).call("accounts", "grant_role", username, "admin")
        click.echo(f"{user['username']} now has roles: {', '.join(user['roles'])}")
