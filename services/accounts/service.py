"""Accounts: users, roles and revoked tokens.

Argon2 is deliberately slow (tens of ms of CPU); it runs in eventlet's OS
thread pool so that one login does not stall every other worker and the AMQP
heartbeat of this process.
"""
import secrets
import time
import uuid

from eventlet import tpool
from nameko.rpc import rpc
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError

from convertix.contract import ACCOUNTS_SERVICE, ROLES
from convertix.errors import InvalidCredentials, NotFound, UsernameTaken
from infra.nameko.database import ModelDatabase
from infra.nameko.logcontext import LogContext
from infra.nameko.metrics import ServiceMetrics
from services.accounts import passwords
from services.accounts.models import Base, RevokedToken, User


class AccountsService:
    name = ACCOUNTS_SERVICE

    db = ModelDatabase(Base)
    log_context = LogContext()
    metrics = ServiceMetrics()

    @rpc
    def register(self, username, password):
        passwords.check_new_credentials(username, password)
        username = passwords.normalise_username(username)
        if self._by_username(username) is not None:  # also a user from before lower case
            raise UsernameTaken(f"username '{username}' is taken", details={"field": "username"})
        password_hash = tpool.execute(passwords.hash_password, password)
        user = User(id=uuid.uuid4().hex, username=username, password_hash=password_hash,
                    roles="", webhook_secret=secrets.token_hex(32))
        session = self.db.session
        session.add(user)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            raise UsernameTaken(f"username '{username}' is taken", details={"field": "username"})
        return user.to_dict()

    @rpc
    def authenticate(self, username, password):
        user = self._by_username(username) if isinstance(username, str) else None
        # Verify against a dummy hash when the user is unknown, so that the
        # answer takes as long either way and does not reveal who exists.
        password_hash = user.password_hash if user else _DUMMY_HASH
        ok = tpool.execute(passwords.verify_password, password_hash, password)
        if not (user and ok):
            raise InvalidCredentials("wrong username or password")
        return user.to_dict()

    @rpc
    def get_user(self, user_id):
        user = self.db.session.get(User, user_id)
        if user is None:
            raise NotFound("no such user")
        return user.to_dict()

    @rpc
    def grant_role(self, username, role):
        if role not in ROLES:
            raise NotFound(f"no such role '{role}'")
        user = self._by_username(username)
        if user is None:
            raise NotFound(f"no such user '{username}'")
        if role not in user.role_list:
            user.roles = ",".join(user.role_list + [role])
            self.db.session.commit()
        return user.to_dict()

    @rpc
    def revoke_token(self, jti, expires_at):
        session = self.db.session
        session.execute(delete(RevokedToken).where(RevokedToken.expires_at < time.time()))
        if session.get(RevokedToken, jti) is None:
            session.add(RevokedToken(jti=jti, expires_at=float(expires_at)))
        try:
            session.commit()
        except IntegrityError:  # revoked twice at once: already done
            session.rollback()

    @rpc
    def is_token_revoked(self, jti):
        return self.db.session.get(RevokedToken, jti) is not None

    @rpc
    def ping(self):
        self.db.session.execute(text("SELECT 1"))
        return True

    def _by_username(self, username):
        # lower() on both sides: users registered before names were kept in
        # lower case are still found; an exact match first if two differ in case.
        return self.db.session.execute(
            select(User).where(func.lower(User.username) == username.lower())
            .order_by((User.username == username).desc()).limit(1)).scalars().first()


_DUMMY_HASH = passwords.hash_password(secrets.token_hex(16))
