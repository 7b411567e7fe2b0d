"""The Sphinx side of the site (listed in ``docs/site/conf.py``'s extensions).

Every page says where its content lives: the build writes ``_site_sources.json`` (page name
to repository path, see :mod:`minijoint.site.stage`) and the template
``docs/site/_templates/page.html`` prints ``source_path`` above the page's body.
Docstrings pass through :func:`minijoint.site.docstrings.tolerant_rst` on their way to
autodoc, so the plain-text parts of them look as they do in the source.
"""
from __future__ import annotations

import json
from pathlib import Path

from .docstrings import process_docstring
from .stage import SOURCES_FILE


def _add_source_path(app, pagename, templatename, context, doctree) -> None:
    context["source_path"] = app.env.minijoint_sources.get("sources", {}).get(pagename)
    context["source_note"] = app.env.minijoint_sources.get("notes", {}).get(pagename)


def _drop_object(app, name, obj, options, bases) -> None:
    """"Bases: object" says nothing: show a class's bases only when it has real ones."""
    bases[:] = [b for b in bases if b is not object]


def _load_sources(app) -> None:
    path = Path(app.srcdir) / SOURCES_FILE
    app.env.minijoint_sources = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("autodoc-process-bases", _drop_object)
    app.connect("builder-inited", _load_sources)
    app.connect("html-page-context", _add_source_path)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
