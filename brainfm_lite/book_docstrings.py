"""A Sphinx extension for the API reference (``book/api/``): how the package's docstrings read single backticks.

The docstrings write names in single backticks, as Markdown does: a parameter (`indices`), a local name
(`preprocess`), or a dotted path to another part of the package (`~brainfm_lite.models.mae.MAE`, shown as ``MAE``).
reStructuredText's default role would set them all in italics. This role, the book's ``default_role``
(``_config.yml``), sets a name in code type, and a ``brainfm_lite.`` path as a cross-reference to its entry in the
API reference (checked like any other reference: the strict build fails on one that leads nowhere).

The chapters are MyST Markdown, where single backticks are code spans already; the role does not touch them.

Code in the docstrings (examples, file layouts) is written for a 120-column editor; on the API pages it wraps at
the page's width instead of scrolling (class ``brainfm-api-code``, styled by ``book_static/brainfm-book.css``).

It also joins the continuation lines of a Google-style ``Returns:`` (or ``Yields:``) description, which the
docstrings indent as they do under ``Args:``: napoleon would read them as a nested block (a definition list).
"""

from __future__ import annotations


def _nodes():
    """docutils' node classes. docutils comes with the book toolchain (the [book] extra), not with the package:
    imported when Sphinx calls in, so `brainfm_lite.book_docstrings` imports with the core dependencies alone."""
    from docutils import nodes

    return nodes


ROLE = "brainfm-code"
PACKAGE_PREFIX = "brainfm_lite."
UNFIELDED_SECTIONS = ("Returns:", "Yields:")
API_PAGES = "book/api/"
WRAPPED_CODE = "brainfm-api-code"
# Napoleon rewrites docstrings at the default priority (500); the continuation lines must be joined before.
BEFORE_NAPOLEON = 400


def code_or_reference(name, rawtext, text, lineno, inliner, options=None, content=None):
    """A ``brainfm_lite.`` path (``~`` shortens it to its last part) becomes a ``py:obj`` reference; any other text
    becomes inline code."""
    if text.lstrip("~").startswith(PACKAGE_PREFIX):
        env = inliner.document.settings.env
        python_object = env.get_domain("py").role("obj")
        return python_object("py:obj", rawtext, text, lineno, inliner, options or {}, content or [])
    return [_nodes().literal(rawtext, text)], []


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def join_return_continuations(lines: list[str]) -> list[str]:
    """Dedent the indented continuation lines of each ``Returns:``/``Yields:`` paragraph to its first line.

    Args:
        lines: a docstring's lines, as `inspect.cleandoc` leaves them.

    Returns:
        The lines, with nested blocks that a paragraph introduces (after ``::``, or under a list item) unchanged.
    """
    out, section_indent, paragraph_indent, keep_nested = [], None, None, False
    for line in lines:
        stripped = line.strip()
        if stripped in UNFIELDED_SECTIONS:
            section_indent, paragraph_indent = _indent(line), None
        elif section_indent is not None and stripped and _indent(line) <= section_indent:
            section_indent = None  # the next section, or the end of this one
        if section_indent is None or stripped in UNFIELDED_SECTIONS or not stripped:
            out.append(line)
            paragraph_indent = None if not stripped else paragraph_indent
            continue
        if paragraph_indent is None:  # a paragraph's first line
            paragraph_indent = _indent(line)
            keep_nested = stripped.endswith("::") or stripped[:2] in ("- ", "* ") or stripped[:1].isdigit()
        elif _indent(line) > paragraph_indent and not keep_nested:
            line = " " * paragraph_indent + stripped
        keep_nested = keep_nested or stripped.endswith("::")
        out.append(line)
    return out


def _join_in_place(app, what, name, obj, options, lines: list[str]) -> None:
    lines[:] = join_return_continuations(lines)


def _wrap_code_of_api_pages(app, doctree) -> None:
    """Mark every code block of an API page, so that the stylesheet wraps its long lines."""
    if app.env.docname.startswith(API_PAGES):
        for block in doctree.findall(lambda node: isinstance(node, (_nodes().literal_block, _nodes().doctest_block))):
            block["classes"].append(WRAPPED_CODE)


def setup(app) -> dict:
    """Sphinx entry point."""
    app.add_role(ROLE, code_or_reference)
    app.connect("autodoc-process-docstring", _join_in_place, priority=BEFORE_NAPOLEON)
    app.connect("doctree-read", _wrap_code_of_api_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
