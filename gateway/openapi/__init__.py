"""`GET /api/v1/openapi.json` (the API described, generated from the routes)
and `/api/docs` (Swagger UI, its files vendored under gateway/static/swagger-ui)."""
from flask import Blueprint, current_app, jsonify, render_template

from gateway.openapi.document import build

bp = Blueprint("apidocs", __name__)


@bp.get("/api/v1/openapi.json")
def openapi_json():
    return jsonify(build(current_app))


@bp.get("/api/docs")
def api_docs():
    return render_template("api_docs.html")
