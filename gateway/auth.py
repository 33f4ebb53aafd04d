"""Authentication: register, login, refresh, logout, me (SPEC, "Auth").

flask-jwt-extended signs and checks the tokens. Its default answers for a
bad token are partly 422; the loaders below make every one a 401 with the
SPEC's code.

A login opens a session: its access and refresh tokens (and the access
tokens refreshed from it) carry one session id, `sid`. Logout revokes the
session, so the refresh token dies with the access token. Revoked sessions
are kept by the accounts service, and marked in the storage folder so that a
logout holds at once in every gateway process (gateway/revocations.py).
"""
import time
import uuid
from datetime import timedelta

from flask import Blueprint, current_app, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt,
    get_jwt_identity,
    jwt_required,
)

from convertix import signature  # pure: the webhook signatures, shared with the notifier
from convertix.contract import ACCOUNTS_SERVICE, JOBS_SERVICE
from convertix.errors import ConvertixError
from gateway.errors import error_response
from gateway.limits import auth_limit, limiter, login_user_limit, username_key
from gateway.revocations import EXTENSION as REVOCATIONS
from gateway.revocations import init_revocations
from gateway.rpc import ACCEPT_POOL, rpc_pool

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32


def init_app(app):
    secret = app.config.get("JWT_SECRET_KEY")
    if not secret or len(secret.encode()) < MIN_SECRET_BYTES:
        raise RuntimeError(
            f"CONVERTIX_JWT_SECRET must be set to at least {MIN_SECRET_BYTES} bytes "
            "(make run generates one in .secrets/)")
    app.config["JWT_ALGORITHM"] = ALGORITHM
    app.config["JWT_DECODE_ALGORITHMS"] = [ALGORITHM]  # never "none", never RS/HS confusion
    for key in ("JWT_ACCESS_TOKEN_EXPIRES", "JWT_REFRESH_TOKEN_EXPIRES"):
        if not isinstance(app.config[key], timedelta):
            app.config[key] = timedelta(seconds=int(app.config[key]))
    jwt = JWTManager(app)

    # (loader, code, message): each of flask-jwt-extended's failure callbacks -> a 401
    for register, code, message in (
        (jwt.unauthorized_loader, "NOT_AUTHENTICATED", "missing Authorization: Bearer token"),
        (jwt.invalid_token_loader, "TOKEN_INVALID", "the token is not valid"),
        (jwt.expired_token_loader, "TOKEN_EXPIRED", "the token has expired"),
        (jwt.revoked_token_loader, "TOKEN_REVOKED", "the token was revoked (logged out)"),
        (jwt.needs_fresh_token_loader, "TOKEN_INVALID", "a fresh token is needed"),
        (jwt.token_verification_failed_loader, "TOKEN_INVALID", "the token is not valid"),
        (jwt.user_lookup_error_loader, "TOKEN_INVALID", "the token's user is gone"),
    ):
        register(_answer(code, message))

    # a stat() per request, the accounts service at most every 30 s per session
    # (gateway/revocations.py), with the accepting pool's short timeout: the
    # check sits in front of every request, POST /jobs included
    revocations = init_revocations(app, app.config["STORAGE_ROOT"],
                                   lambda app: rpc_pool(app, ACCEPT_POOL))

    @jwt.token_in_blocklist_loader
    def is_revoked(_header, payload):
        return revocations.is_revoked(payload.get("sid") or payload["jti"])


# Auth bodies are two short strings: read no more than this (the upload
# routes' 200 MiB applied here too, and a login parsed 200 MiB of JSON).
AUTH_MAX_BODY_BYTES = 16 * 1024


@bp.before_request
def _small_bodies():
    request.max_content_length = AUTH_MAX_BODY_BYTES
    if (request.content_length or 0) > AUTH_MAX_BODY_BYTES:
        raise ConvertixError(f"auth requests carry at most {AUTH_MAX_BODY_BYTES} bytes",
                             code="BAD_REQUEST", details={"max_bytes": AUTH_MAX_BODY_BYTES})


def _answer(code, message):
    def callback(*_args):
        return error_response(code, message, status=401)
    return callback


def _credentials():
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON
        body = None
    if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("username", "password")):
        raise ConvertixError("send JSON with string fields username and password",
                             code="BAD_REQUEST")
    return body["username"], body["password"]


def _expires_in(key):
    return int(current_app.config[key].total_seconds())


@bp.post("/register")
@limiter.limit(auth_limit)
def register():
    username, password = _credentials()
    user = rpc_pool(current_app).call(ACCOUNTS_SERVICE, "register", username, password)
    return jsonify({"id": user["id"], "username": user["username"]}), 201


@bp.post("/login")
@limiter.limit(auth_limit)
@limiter.limit(login_user_limit, key_func=username_key)
def login():
    username, password = _credentials()
    user = rpc_pool(current_app).call(ACCOUNTS_SERVICE, "authenticate", username, password)
    claims = {"username": user["username"], "roles": user["roles"], "sid": uuid.uuid4().hex}
    return jsonify({
        "access_token": create_access_token(identity=user["id"], additional_claims=claims),
        "refresh_token": create_refresh_token(identity=user["id"], additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": _expires_in("JWT_ACCESS_TOKEN_EXPIRES"),
    })


@bp.post("/refresh")
@jwt_required(refresh=True)
def refresh():
    user = rpc_pool(current_app).call(ACCOUNTS_SERVICE, "get_user", get_jwt_identity())
    claims = {"username": user["username"], "roles": user["roles"], "sid": _session_id()}
    return jsonify({
        "access_token": create_access_token(identity=user["id"], additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": _expires_in("JWT_ACCESS_TOKEN_EXPIRES"),
    })


@bp.post("/logout")
@jwt_required()
def logout():
    # The whole session: kept until its refresh token would have expired.
    session_ends = time.time() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds()
    rpc_pool(current_app).call(ACCOUNTS_SERVICE, "revoke_token", _session_id(), session_ends)
    current_app.extensions[REVOCATIONS].revoked_now(_session_id(), session_ends)
    return "", 204


def _session_id():
    token = get_jwt()
    return token.get("sid") or token["jti"]


@bp.get("/me")
@jwt_required()
def me():
    pool = rpc_pool(current_app)
    user = pool.call(ACCOUNTS_SERVICE, "get_user", get_jwt_identity())
    # the same secret in Standard Webhooks' form, for its libraries (README "Webhooks")
    user["webhook_secret_whsec"] = signature.whsec(user["webhook_secret"])
    # bytes stored against the quota: the jobs service counts them
    user["storage"] = pool.call(JOBS_SERVICE, "storage_usage", get_jwt_identity())
    return jsonify(user)


def current_user_id():
    return get_jwt_identity()

