"""The API docs pages load nothing from outside: every script, style, image and font is ours."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

ORIGIN = "http://testserver"
# Elements and attributes whose URLs a browser fetches while showing the page (links a
# person may click, like <a href>, are not loads).
LOADING_ATTRIBUTES = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
    "track": ("src",),
}
# <link rel=...> values that make the browser fetch or connect.
LOADING_LINK_RELS = {
    "stylesheet",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "preload",
    "prefetch",
    "preconnect",
    "dns-prefetch",
    "modulepreload",
    "manifest",
}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)['"]?\s*\)""", re.IGNORECASE)
# @import "x.css" (the url(...) form is matched by CSS_URL).
CSS_IMPORT = re.compile(r"""@import\s+['"]([^'"]+)['"]""", re.IGNORECASE)


class LoadedUrls(HTMLParser):
    """The URLs a page makes the browser load, and its inline styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "style" in values:
            self.styles.append(values["style"])
        if tag == "style":
            self._in_style = True
        if tag == "link" and set(values.get("rel", "").lower().split()) & LOADING_LINK_RELS:
            self.urls.append(values.get("href", ""))
        for attribute in LOADING_ATTRIBUTES.get(tag, ()):
            if values.get(attribute):
                if attribute == "srcset":
                    self.urls += [part.split()[0] for part in values[attribute].split(",")]
                else:
                    self.urls.append(values[attribute])

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def css_urls(css: str) -> list[str]:
    return CSS_URL.findall(css) + CSS_IMPORT.findall(css)


def is_ours(url: str) -> bool:
    if url.startswith("data:"):
        return True
    parts = urlsplit(urljoin(ORIGIN + "/", url))
    return f"{parts.scheme}://{parts.netloc}" == ORIGIN


def everything_loaded(client: Client, path: str) -> tuple[list[str], list[str]]:
    """Every URL the page loads, following our own stylesheets; and the outside ones."""
    response = client.get(path)
    assert response.status_code == 200
    page = LoadedUrls()
    page.feed(response.content.decode())
    queue = [(urljoin(ORIGIN + path, url), None) for url in page.urls]
    queue += [(urljoin(ORIGIN + path, url), None) for s in page.styles for url in css_urls(s)]
    seen: list[str] = []
    outside: list[str] = []
    while queue:
        url, _ = queue.pop()
        if url in seen:
            continue
        seen.append(url)
        if not is_ours(url):
            outside.append(url)
            continue
        if url.startswith("data:"):
            continue
        asset = client.get(urlsplit(url).path)
        assert asset.status_code == 200, url
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        if urlsplit(url).path.endswith(".css"):
            queue += [(urljoin(url, ref), None) for ref in css_urls(body.decode())]
    return seen, outside


@pytest.mark.parametrize(
    ("path", "assets"),
    [
        (
            "/api/docs/",
            [
                "swagger-ui-dist/favicon-32x32.png",
                "swagger-ui-dist/swagger-ui-bundle.js",
                "swagger-ui-dist/swagger-ui-standalone-preset.js",
                "swagger-ui-dist/swagger-ui.css",
            ],
        ),
        ("/api/redoc/", ["redoc/bundles/redoc.standalone.js"]),
    ],
)
def test_docs_pages_load_only_our_own_files(db: None, path: str, assets: list[str]) -> None:
    loaded, outside = everything_loaded(Client(), path)

    assert outside == []
    prefix = f"{ORIGIN}/static/drf_spectacular_sidecar/"
    files = sorted(url.removeprefix(prefix) for url in loaded if not url.startswith("data:"))
    assert files == assets


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_forbid_the_browser_any_other_origin(db: None, path: str) -> None:
    policy = Client().get(path)["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for directive in ("script-src", "style-src", "img-src", "font-src", "connect-src"):
        sources = directives[directive].split()
        assert set(sources) <= {"'self'", "'unsafe-inline'", "data:"}, (directive, sources)


def test_the_scanner_notices_an_outside_stylesheet_and_css_font() -> None:
    page = LoadedUrls()
    page.feed(
        '<link rel="preconnect" href="https://fonts.gstatic.com">'
        "<style>@import url('https://fonts.googleapis.com/css2?family=Roboto');"
        '@import "//cdn.example.net/x.css";'
        "body { background: url(/static/x.png) }</style>"
        '<a href="https://redocly.com/">not a load</a>'
    )
    urls = page.urls + [url for style in page.styles for url in css_urls(style)]

    assert [url for url in urls if not is_ours(url)] == [
        "https://fonts.gstatic.com",
        "https://fonts.googleapis.com/css2?family=Roboto",
        "//cdn.example.net/x.css",
    ]
