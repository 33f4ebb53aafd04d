"""The web page at `/`: one server-rendered HTML page, its script and styles
served from gateway/static (nothing from outside: see the CSP below)."""
from flask import Blueprint, render_template, request

from convertix.messages import SENTENCES

bp = Blueprint("web", __name__)

# Everything the pages load comes from this origin. Images also from blob:
# (thumbnails of picked files, and results fetched with the token) and data:
# (Swagger UI's icons); inline styles for Swagger UI's own widgets.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
PAGES = {"web.index", "apidocs.api_docs"}


@bp.get("/")
def index():
    return render_template("index.html", sentences=SENTENCES)


def _page_headers(response):
    if request.endpoint in PAGES:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app):
    app.after_request(_page_headers)
    app.register_blueprint(bp)
