r"""Docstrings made safe for autodoc, without editing them.

minijoint's docstrings are written to be read in the source: reStructuredText where it
helps (``code``, :func:`roles <tolerant_rst>`, ``::`` blocks, :math:`\LaTeX` roles) and
plain text aligned by hand where it is clearer (a formula over two lines, a column of
names and meanings). Read as reStructuredText, the plain parts go wrong: ``|x|`` is a
substitution, ``(*B, r)`` opens an emphasis, an aligned second line is an "unexpected
indentation". :func:`tolerant_rst` keeps what parses and shows the rest as the author
aligned it:

1. outside code, literal blocks and tables, a ``|`` or ``*`` that would open markup is
   escaped, unless it opens an emphasis that closes (it then prints as itself);
2. the docstring is parsed with docutils; each blank-line-separated chunk that still draws
   a warning, or that is aligned by hand (a run of three spaces inside a line, which
   reStructuredText would fold into one paragraph), is shown as a literal block of its
   original lines (roles reduced to their text), so the columns survive;
3. if that still does not parse, the whole docstring is shown as a literal block.
"""
from __future__ import annotations

import io
import re

# inline literals, roles with their content, and interpreted text: left as they are
_SPAN = re.compile(r"(:[\w:+.-]+:`[^`]*`|``.*?``|`[^`]+`_{0,2})")
_EMPHASIS = re.compile(r"(?<![^\s(\[\"'<{/:-])(\*\*?)(?=[^\s*])([^*]*?[^\s\\*])\1"
                       r"(?=$|[\s)\]\"'>}.,;:!?/-])")
_OPENER = re.compile(r"(?<![^\s(\[{<\"'/:-])[*|](?=\S)")
_ALIGNED = re.compile(r"\S {3,}\S")
_TABLE_RULE = re.compile(r"^\s*=+( +=+)*\s*$")   # a simple table's border: its columns are meant
_ROLE = re.compile(r":[\w:+.-]+:`([^`]*)`|``(.*?)``")


def _escape_text(text: str) -> str:
    """Escape each ``*`` or ``|`` that reStructuredText would take to open markup (after a
    space, an opening bracket or the line's start, before a non-space), unless it opens an
    emphasis that closes; ``text`` holds no code spans or roles."""
    pairs = [m.span() for m in _EMPHASIS.finditer(text)]
    return _OPENER.sub(lambda m: m.group(0) if any(a <= m.start() < b for a, b in pairs)
                       else "\\" + m.group(0), text)


def escape_line(line: str) -> str:
    """``line`` with ``|`` and stray ``*`` escaped outside code spans and roles."""
    parts = _SPAN.split(line)
    return "".join(p if i % 2 else _escape_text(p) for i, p in enumerate(parts))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def literal_lines(lines: list) -> set:
    """Indices of lines that reStructuredText takes as they are: literal blocks (after a
    line ending in ``::``, directives included), doctest lines and grid-table lines."""
    keep, block = set(), None   # block: the indentation of the ``::`` line while inside one
    for i, line in enumerate(lines):
        stripped = line.strip()
        if block is not None and (not stripped or _indent(line) > block):
            keep.add(i)
            continue
        block = None
        if stripped.startswith((">>>", "+-", "+=")) or (stripped.startswith("|") and stripped.endswith("|")):
            keep.add(i)
        if stripped.endswith("::"):
            block = _indent(line)
    return keep


def chunks(lines: list) -> list:
    """``[(start, stop), ...]``: the runs of non-blank lines."""
    out, start = [], None
    for i, line in enumerate(lines + [""]):
        if line.strip() and start is None:
            start = i
        elif not line.strip() and start is not None:
            out.append((start, i))
            start = None
    return out


def _neutral(line: str) -> str:
    """``line`` for the check alone: every role and interpreted text becomes an inline
    literal and a directive a comment, so that docutils runs none of Sphinx's code (which
    needs a build environment) and only the text around them is judged."""
    line = _SPAN.sub("``code``", line)
    return re.sub(r"^(\s*\.\.\s+[\w:-]+)::", r"\1", line)


def aligned_lines(lines: list, keep: set) -> set:
    """Indices of lines aligned by hand (three spaces inside the text) in chunks of two
    lines or more (one line cannot be folded into another), outside literal blocks and
    the chunks that hold a simple table."""
    return {i for a, b in chunks(lines) if b - a > 1
            and not any(_TABLE_RULE.match(lines[j]) for j in range(a, b))
            for i in range(a, b) if i not in keep and _ALIGNED.search(lines[i].strip())}


def rst_problems(lines: list) -> set:
    """0-based line numbers where docutils warns (level 2 and up) when parsing ``lines``;
    roles and directives are not judged (see :func:`_neutral`). A warning that names no
    line (a dangling ``name_`` reference) marks the lines holding its problematic text,
    or, if none does, every line."""
    from docutils.core import publish_doctree
    from docutils.nodes import problematic

    neutral = [_neutral(s) for s in lines]
    stream = io.StringIO()
    tree = publish_doctree("\n".join(neutral) + "\n", settings_overrides={
        "report_level": 2, "halt_level": 5, "warning_stream": stream})
    bad, lineless = set(), False
    for m in re.finditer(r"^<string>:(\d*): \((?:WARNING|ERROR|SEVERE)/", stream.getvalue(), re.M):
        if m.group(1):
            line = int(m.group(1))
            bad.update({max(line - 2, 0), min(line - 1, len(lines) - 1)})
        else:
            lineless = True
    outside = [re.sub(r"``.*?``", "", s) for s in neutral]   # the text around code
    for node in tree.findall(problematic):
        bad.update(i for i, s in enumerate(outside) if node.astext() in s)
    if lineless and not bad:
        bad = set(range(len(lines)))
    return bad


def role_title(text: str) -> str:
    """What a role shows: ``title <target>`` shows its title, ``~a.b.c`` shows ``c``."""
    text = re.sub(r"\s*<[^>]*>$", "", text) if text.endswith(">") else text
    return text[1:].rsplit(".", 1)[-1] if text.startswith("~") else text


def plain_roles(text: str, code: str = "") -> str:
    """``text`` with its roles and inline literals reduced to what they show, each wrapped
    in ``code`` (``"`"`` for Markdown; nothing by default)."""
    return _ROLE.sub(lambda m: code + (role_title(m.group(1)) if m.group(1) is not None
                                       else m.group(2)) + code, text)


def _plain(m) -> str:
    """A role or inline literal as its text; padded to its length where a column follows
    (two spaces or more), so that the columns stay put."""
    text = role_title(m.group(1)) if m.group(1) is not None else m.group(2)
    column = m.string.startswith("  ", m.end())
    return text + " " * (len(m.group(0)) - len(text)) * column


def as_literal(lines: list) -> list:
    """``lines`` as one literal block (roles reduced to their text), indented under ``::``."""
    base = min((_indent(s) for s in lines if s.strip()), default=0)
    body = [(" " * (base + 4) + _ROLE.sub(_plain, s[base:])).rstrip() if s.strip() else ""
            for s in lines]
    return [" " * base + "::", ""] + body + [""]


def tolerant_rst(lines: list) -> list:
    """The docstring ``lines`` made to parse as reStructuredText (see the module's steps)."""
    keep = literal_lines(lines)
    escaped = [s if i in keep else escape_line(s) for i, s in enumerate(lines)]
    bad = rst_problems(escaped) | aligned_lines(lines, keep)
    if not bad:
        return escaped
    out, done = [], 0
    for start, stop in chunks(lines):
        out += escaped[done:start]
        hit = any(start <= i < stop for i in bad) and not any(i in keep for i in range(start, stop))
        out += as_literal(lines[start:stop]) if hit else escaped[start:stop]
        done = stop
    out += escaped[done:]
    return out if not rst_problems(out) else as_literal(lines)


def process_docstring(app, what, name, obj, options, lines) -> None:
    """Sphinx's ``autodoc-process-docstring`` hook: rewrite ``lines`` in place."""
    lines[:] = tolerant_rst(list(lines))
