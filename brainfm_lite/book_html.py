"""A small Sphinx extension the rendered book loads (``_config.yml``: ``sphinx.extra_extensions``).

- Adds the book's stylesheet (``book_static/brainfm-book.css``: printed output lines wrap instead of scrolling).
- Drops script tags that appear twice on a page. Jupyter Book 1's extensions register some inline scripts twice;
  sphinx-thebe's ``const THEBE_JS_URL = ...`` declared twice is a SyntaxError in every page's browser console.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "book_static"
STYLESHEET = "brainfm-book.css"


def _add_static_files(app) -> None:
    """Put the package's static folder on the HTML builder's path and load the stylesheet on every page."""
    app.config.html_static_path.append(str(STATIC_DIR))
    app.add_css_file(STYLESHEET)


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep the first of identical script tags (same file, same attributes and inline body) on a page."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        # An inline script's file name is None or "" depending on when it was registered: the same script.
        name = str(getattr(script, "filename", script) or "")
        key = (name, tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app) -> dict:
    """Sphinx entry point."""
    app.connect("builder-inited", _add_static_files)
    app.connect("html-page-context", _drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
