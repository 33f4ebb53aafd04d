"""Users and revoked tokens."""
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, Float, String
from sqlalchemy.orm import declarative_base

Base = declarative_base(name="Base")


def utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


class User(Base):
    __tablename__ = "users"

    id = Column(String(32), primary_key=True)
    username = Column(String(64), unique=True, nullable=False)
    password_hash = Column(String(255), nullable=False)
    roles = Column(String(255), nullable=False, default="")  # comma-separated
    webhook_secret = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    @property
    def role_list(self):
        return [r for r in self.roles.split(",") if r]

    def to_dict(self):
        return {"id": self.id, "username": self.username, "roles": self.role_list,
                "webhook_secret": self.webhook_secret}


class RevokedToken(Base):
    """A logged-out session's (or token's) id, kept until its tokens would have expired."""

    __tablename__ = "revoked_tokens"

    jti = Column(String(64), primary_key=True)
    expires_at = Column(Float, nullable=False)  # epoch seconds, as in the JWT
