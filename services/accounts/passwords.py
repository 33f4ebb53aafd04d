"""Password rules and hashing (argon2id). Pure functions."""
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from convertix.errors import ConvertixError, WeakPassword

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 hashes anything, but a 10 MB "password" is an attack
# Matched whole (fullmatch): '^...$' let 'alice\n' through ('$' matches before a
# final newline). Kept in lower case: 'Alice' and 'alice' are one user.
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{3,64}")

_hasher = PasswordHasher()


def check_new_credentials(username, password):
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise ConvertixError(
            "username must be 3-64 characters: letters, digits, _ . @ -",
            details={"field": "username"}, code="BAD_REQUEST")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise WeakPassword(f"password must have at least {MIN_PASSWORD} characters",
                           details={"field": "password"})
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"password must have at most {MAX_PASSWORD} characters",
                           details={"field": "password"})


def normalise_username(username):
    """The form a username is stored and looked up in (lower case)."""
    return username.lower() if isinstance(username, str) else username


def hash_password(password):
    return _hasher.hash(password)


def verify_password(password_hash, password):
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
