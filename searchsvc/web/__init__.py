"""Edge: the web — the Flask app factory — search page, JSON API, health, OpenSearch, errors."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
    url_for,
)

from searchsvc.backends.base import Searcher
from searchsvc.backends.config import BackendConfig, open_searcher
from searchsvc.search.model import make_request
from searchsvc.search.parse import MAX_QUERY_CHARS, QueryError
from searchsvc.search.render import iso_utc, result_json
from searchsvc.web import errors, insights

PACKAGE_DIR = Path(__file__).resolve().parent.parent
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # XML 1.0 forbids these
SEARCHER = "searchsvc.searcher"  # the app.extensions key this module owns
FEED_PARAMS = ("q", "category", "tag", "author", "from", "to")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Defaults, then the environment, then the caller's config."""
    app = Flask(__name__, template_folder=str(PACKAGE_DIR / "templates"), static_folder=str(PACKAGE_DIR / "static"))
    app.config.update(
        INDEX_DIR=os.environ.get("SEARCHSVC_INDEX", "index"),
        SITE_NAME=os.environ.get("SEARCHSVC_SITE_NAME", "站内搜索"),
        SITE_URL=os.environ.get("SEARCHSVC_SITE_URL", ""),  # else the index's site, else this server
        FEED_ENTRIES=20,
        CORS_ORIGINS=[o for o in os.environ.get("SEARCHSVC_CORS_ORIGINS", "").split(",") if o],
        RESULT_CACHE=int(os.environ.get("SEARCHSVC_RESULT_CACHE", "256")),
        BACKEND=None,  # a BackendConfig; None: Whoosh at INDEX_DIR
        STATS=os.environ.get("SEARCHSVC_STATS") or None,  # the query log's path; None: beside the index; False: none
        STATS_DAYS=int(os.environ.get("SEARCHSVC_STATS_DAYS", "90")),
        POPULAR_BLOCKLIST=os.environ.get("SEARCHSVC_POPULAR_BLOCKLIST") or None,
        ADMIN_TOKEN=os.environ.get("SEARCHSVC_ADMIN_TOKEN", ""),  # none: /admin/stats answers loopback only
        JSON_AS_ASCII=False,
    )
    app.config.update(config or {})
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logging.getLogger("jieba").setLevel(logging.WARNING)
    app.extensions[SEARCHER] = None

    app.add_url_rule("/", "page", page)
    app.add_url_rule("/api/search", "api_search", api_search)
    app.add_url_rule("/api/suggest", "api_suggest", api_suggest)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/opensearch.xml", "opensearch", opensearch)
    app.add_url_rule("/search.atom", "feed", feed)
    app.add_url_rule("/widget.js", "widget_js", widget_file, defaults={"name": "widget.js"})
    app.add_url_rule("/widget.css", "widget_css", widget_file, defaults={"name": "widget.css"})
    app.jinja_env.filters["format_filter"] = lambda value, name: f"{name}:{value}"
    app.after_request(_headers)
    errors.init_app(app)
    insights.init_app(app)
    return app


def searcher() -> Searcher:
    """The app's searcher, opened on first use; it follows reindexes by itself."""
    return open_app_searcher(current_app)


def open_app_searcher(app: Flask) -> Searcher:
    """Open the app's searcher now if it is not open yet: a server worker calls this before its
    first request, so that request does not pay for opening the index."""
    found = app.extensions.get(SEARCHER)
    if found is None:
        synonyms = os.environ.get("SEARCHSVC_SYNONYMS")
        config = app.config["BACKEND"] or BackendConfig(index_dir=Path(app.config["INDEX_DIR"]),
                                                        synonyms=Path(synonyms) if synonyms else None)
        found = open_searcher(config, cache_size=app.config["RESULT_CACHE"])
        app.extensions[SEARCHER] = found
    return found  # type: ignore[no-any-return]


def close_index(app: Flask) -> None:
    """Close the searchers the app opened and write what its query log holds (tests and embedding
    code call this when done)."""
    index = app.extensions.get(SEARCHER)
    if index is not None:
        index.close()
    log = insights.query_log(app)
    if log is not None:
        log.close()


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    response.headers.setdefault("X-Frame-Options", "DENY")
    origin = request.headers.get("Origin")
    allowed = current_app.config["CORS_ORIGINS"]
    if origin and request.path.startswith("/api/") and ("*" in allowed or origin in allowed):
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
        response.headers["Vary"] = "Origin"
    return response


def api_search() -> Response:
    result = searcher().run(make_request(request.args.to_dict(flat=False)))
    insights.log_search(result, request.args.get("sid"))
    return jsonify(result_json(result))


def api_suggest() -> Response:
    q = request.args.get("q", "")
    if len(q) > MAX_QUERY_CHARS:
        raise QueryError(f"q is longer than {MAX_QUERY_CHARS} characters")
    titles = searcher().suggest(q)
    return jsonify({"query": q, "suggestions": [{"title": t, "url": u} for t, u in titles]})


def healthz() -> Response:
    return jsonify({"status": "ok", "documents": searcher().document_count()})


def page() -> Any:
    args = request.args.to_dict(flat=False)
    fragment = request.args.get("fragment") == "1"
    result = error = None
    session = request.args.get("sid") or (None if fragment else insights.new_session())
    if request.args.get("q", "").strip() or any(args.get(k) for k in ("category", "tag", "author")):
        args.setdefault("q", [""])
        try:
            result = searcher().run(make_request(args))
        except QueryError as exc:
            error = str(exc)
        else:
            insights.log_search(result, session)
    status = 400 if error else 200
    template = "results.html" if fragment else "index.html"
    feed_args = {k: v for k, v in args.items() if k in FEED_PARAMS and v}
    popular = () if fragment else insights.popular_queries()  # shown while the box is empty
    return render_template(template, result=result, error=error, args=args, link=_link, iso=iso_utc,
                           feed_args=feed_args, popular=popular, session=session), status


def _link(args: dict[str, list[str]], **changes: Any) -> str:
    """The page URL for `args` with some parameters replaced, added to or toggled."""
    params = {k: list(v) for k, v in args.items() if k not in ("fragment", "sid")}
    for key, value in changes.items():
        if key.startswith("toggle_"):
            name = key[len("toggle_"):]
            values = params.setdefault(name, [])
            if value in values:
                values.remove(value)
            else:
                values.append(value)
            params.pop("page", None)
        elif value is None:
            params.pop(key, None)
        else:
            params[key] = [str(value)]
    query: dict[str, Any] = {k: v for k, v in params.items() if v}
    return url_for("page", **query)


def opensearch() -> Response:
    xml = render_template("opensearch.xml", base=request.url_root.rstrip("/"))
    return Response(xml, mimetype="application/opensearchdescription+xml")


def feed() -> Response:
    """An Atom feed of the newest posts that match: subscribe to a topic, a tag or an author."""
    args = request.args.to_dict(flat=False)
    if any(args.get(k) for k in ("category", "tag", "author")):
        args.setdefault("q", [""])
    args["sort"] = ["newest"]
    args.setdefault("per_page", [str(current_app.config["FEED_ENTRIES"])])
    index = searcher()
    result = index.run(make_request(args))
    site = (current_app.config["SITE_URL"] or index.site_url or request.url_root).rstrip("/")
    page_args = {k: v for k, v in args.items() if k in FEED_PARAMS}
    xml = render_template(
        "feed.atom.xml", result=result, iso=iso_utc, site=site,
        absolute=lambda url: url if "://" in url else site + "/" + url.lstrip("/"),
        self_url=request.url, page_url=request.url_root.rstrip("/") + _link(page_args, sort="newest"),
        updated=iso_utc(max((h.date for h in result.hits), default=dt.datetime.now(dt.timezone.utc))),
    )
    return Response(_NOT_XML.sub("", xml), mimetype="application/atom+xml")


def widget_file(name: str) -> Response:
    """The embeddable box, loaded by other sites' pages: cacheable, and allowed across origins."""
    response = send_from_directory(PACKAGE_DIR / "static", name, max_age=600)
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
