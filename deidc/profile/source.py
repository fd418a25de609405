"""YAML/JSON text → plain data plus a map from JSON pointers to line:column.

Everything downstream (schema checks, lint rules, the compiler's provenance) speaks in JSON
pointers such as ``/dicom/fields/3/name``; this module is the one place that knows how a pointer
maps back to the text.  It also notices what PyYAML's ``safe_load`` hides: duplicate keys (PyYAML
keeps the last one silently) and scalars that YAML turned into numbers (``00100020`` is an octal
int in YAML 1.1).

Profiles are untrusted input, so loading is bounded: a size cap, strict UTF-8, a cap on the
number of nodes built (alias bombs share nodes in the composed graph but would explode when
turned into data), and a cap on nesting depth.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# The largest real profiles we know are ~20 KB and ~2,000 YAML nodes.  PyYAML's pure-Python
# composer costs ~20 µs a node, so the node caps are what bound the time hostile input can take.
MAX_BYTES = 1024 * 1024
MAX_COMPOSED_NODES = 10_000
MAX_NODES = 100_000
MAX_DEPTH = 64


@dataclass(frozen=True)
class Span:
    """A 1-based line and column range in the source text."""

    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def from_marks(cls, start: yaml.Mark, end: yaml.Mark) -> "Span":
        return cls(start.line + 1, start.column + 1, end.line + 1, end.column + 1)


@dataclass(frozen=True)
class Scalar:
    """How a scalar was written: its raw text, its quoting style and the YAML type it got."""

    raw: str
    style: str | None
    tag: str


@dataclass(frozen=True)
class LoadError:
    """Why the text could not be turned into data at all (syntax, encoding, limits)."""

    message: str
    span: Span
    hint: str
    kind: str  # "syntax", "encoding", "too-large", "too-deep", "too-many-nodes", "unreadable"


@dataclass(frozen=True)
class DuplicateKey:
    pointer: str  # pointer of the mapping member that was overwritten
    key: str
    first: Span
    second: Span


@dataclass
class Source:
    """One profile file: its text, its data (``None`` if it did not load) and where things are."""

    path: str
    text: str
    data: object = None
    error: LoadError | None = None
    values: dict[str, Span] = field(default_factory=dict)
    keys: dict[str, Span] = field(default_factory=dict)
    scalars: dict[str, Scalar] = field(default_factory=dict)
    duplicates: list[DuplicateKey] = field(default_factory=list)

    def span(self, pointer: str, *, key: bool = False) -> Span:
        """Where ``pointer`` is; falls back to the nearest enclosing node that has a place."""
        table = self.keys if key else self.values
        probe = pointer
        while True:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return Span(1, 1, 1, 1)
            probe = probe.rsplit("/", 1)[0]

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""


def escape(token: object) -> str:
    """One JSON-pointer reference token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def load_source(path: str | Path, text: str | bytes | None = None) -> Source:
    """Read and parse a profile file; never raises for bad content, reports it in ``error``."""
    path = str(path)
    if text is None:
        try:
            with open(path, "rb") as handle:
                text = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            return _failed(path, "", "unreadable", f"cannot read file: {exc.strerror or exc}",
                           "check the path and its permissions")
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            return _failed(path, "", "too-large",
                           f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB",
                           "a de-id profile is a few kilobytes; is this the right file?")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = text[: exc.start].count(b"\n") + 1
            column = exc.start - (text.rfind(b"\n", 0, exc.start) + 1) + 1
            return _failed(path, "", "encoding",
                           f"not valid UTF-8: byte 0x{text[exc.start]:02x} at line {line}",
                           "save the profile as UTF-8", Span(line, column, line, column + 1))
    elif len(text) > MAX_BYTES:
        return _failed(path, "", "too-large", "file is too large", "is this the right file?")

    source = Source(path=path, text=text)
    deep = _flow_nesting_beyond_limit(text)
    if deep is not None:
        source.error = LoadError(f"brackets nested deeper than {MAX_DEPTH} levels", deep,
                                 "a de-id profile needs only a few levels of nesting", "too-deep")
        return source
    if path.lower().endswith(".json"):
        try:
            json.loads(text)
        except RecursionError:
            source.error = LoadError("JSON nesting is too deep to read", Span(1, 1, 1, 1),
                                     "a de-id profile needs only a few levels of nesting",
                                     "too-deep")
            return source
        except json.JSONDecodeError as exc:
            source.error = LoadError(f"JSON syntax error: {exc.msg}",
                                     Span(exc.lineno, exc.colno, exc.lineno, exc.colno + 1),
                                     "fix the JSON syntax at the marked place", "syntax")
            return source
    try:
        node = yaml.compose(text, Loader=_BoundedLoader)
    except _TooManyComposedNodes as exc:
        line, column = exc.mark.line + 1, exc.mark.column + 1
        source.error = LoadError(f"more than {MAX_COMPOSED_NODES} YAML values",
                                 Span(line, column, line, column + 1),
                                 "a de-id profile has a few thousand values at most; is this the "
                                 "right file?", "too-many-nodes")
        return source
    except yaml.MarkedYAMLError as exc:
        source.error = _syntax_error(exc, text)
        return source
    except yaml.YAMLError as exc:
        source.error = LoadError(f"YAML error: {exc}", Span(1, 1, 1, 1),
                                 "fix the YAML syntax", "syntax")
        return source
    except RecursionError:
        source.error = LoadError("YAML nesting is too deep to read", Span(1, 1, 1, 1),
                                 "a de-id profile needs only a few levels of nesting", "too-deep")
        return source
    if node is None:
        return source
    builder = _Builder(source)
    try:
        source.data = builder.build(node, "", 0)
    except _LimitExceeded as exc:
        source.data = None
        source.error = exc.error
    return source


class _TooManyComposedNodes(Exception):
    def __init__(self, mark: yaml.Mark):
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that gives up after MAX_COMPOSED_NODES nodes, so that a huge file ends in
    about a second instead of minutes."""

    def __init__(self, stream):
        super().__init__(stream)
        self.composed = 0

    def compose_node(self, parent, index):
        self.composed += 1
        if self.composed > MAX_COMPOSED_NODES:
            raise _TooManyComposedNodes(self.peek_event().start_mark)
        return super().compose_node(parent, index)


_FLOW_BRACKETS = re.compile(r"[^\[\]{}]+")


def _flow_nesting_beyond_limit(text: str) -> Span | None:
    """Where ``[``/``{`` first nest deeper than MAX_DEPTH, checked before parsing: PyYAML's
    scanner slows down quadratically with flow nesting (10,000 ``[`` take seconds before the
    composer gives up), and ``json.loads`` recurses.  Brackets inside strings are counted too
    (unmatched closers are clamped at zero); real profiles stay far below the limit."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for index, bracket in enumerate(_FLOW_BRACKETS.sub("", text)):
        depth = depth + 1 if bracket in "[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH:
            return _span_of_bracket(text, index)
    return None


def _span_of_bracket(text: str, bracket_index: int) -> Span:
    """Line and column of the ``bracket_index``-th bracket character of ``text``."""
    for seen, match in enumerate(re.finditer(r"[\[\]{}]", text)):
        if seen == bracket_index:
            offset = match.start()
            line = text.count("\n", 0, offset) + 1
            column = offset - (text.rfind("\n", 0, offset) + 1) + 1
            return Span(line, column, line, column + 1)
    return Span(1, 1, 1, 1)


def _failed(path: str, text: str, kind: str, message: str, hint: str,
            span: Span = Span(1, 1, 1, 1)) -> Source:
    return Source(path=path, text=text, error=LoadError(message, span, hint, kind))


def _syntax_error(exc: yaml.MarkedYAMLError, text: str) -> LoadError:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "syntax error"
    message = f"YAML syntax error: {problem}"
    if exc.context:
        message += f" ({exc.context})"
    return LoadError(message, Span(line, column, line, column + 1),
                     _indentation_hint(text, line) or "fix the YAML syntax at the marked place",
                     "syntax")


def _indentation_hint(text: str, error_line: int) -> str | None:
    """Explain the common cause: options under ``dicom:`` written at column 0, or a rule's keys
    not lined up under its ``- name:``."""
    lines = text.splitlines()
    indent = lambda s: len(s) - len(s.lstrip(" "))  # noqa: E731
    for number in range(min(error_line, len(lines)) - 1, -1, -1):
        stripped = lines[number].strip()
        if stripped == "dicom:" or (stripped.startswith("dicom:") and stripped.endswith(":")):
            section_indent = indent(lines[number])
            for following in range(number + 1, min(error_line, len(lines))):
                body = lines[following]
                if body.strip() and not body.lstrip().startswith("#"):
                    if indent(body) <= section_indent:
                        return (f"line {following + 1} is not indented under `dicom:` (line "
                                f"{number + 1}): every option of the dicom section, `fields:` "
                                "included, must be indented by the same amount more than `dicom:`")
                    break
            break
    if 0 < error_line <= len(lines):
        here = lines[error_line - 1]
        previous = next((lines[n] for n in range(error_line - 2, -1, -1)
                         if lines[n].strip() and not lines[n].lstrip().startswith("#")), None)
        if previous is not None and previous.lstrip().startswith("- ") and ":" in here:
            item_key_column = indent(previous) + 2
            if indent(here) != item_key_column:
                return (f"the keys of one rule must line up: `{here.strip()}` is indented "
                        f"{indent(here)} spaces, `{previous.strip()}` starts its key at column "
                        f"{item_key_column + 1}")
        if ":" in here and indent(here) > 0:
            return "check the indentation of this line against the lines above it"
    return None


class _LimitExceeded(Exception):
    def __init__(self, error: LoadError):
        self.error = error


class _Builder:
    """Turns a composed node graph into plain data, recording positions as it goes."""

    def __init__(self, source: Source):
        self.source = source
        self.constructor = yaml.constructor.SafeConstructor()
        self.count = 0

    def build(self, node: yaml.Node, pointer: str, depth: int) -> object:
        self.count += 1
        span = Span.from_marks(node.start_mark, node.end_mark)
        if self.count > MAX_NODES:
            raise _LimitExceeded(LoadError(
                f"more than {MAX_NODES} values once aliases are expanded", span,
                "remove the YAML anchors/aliases that multiply the document", "too-many-nodes"))
        if depth > MAX_DEPTH:
            raise _LimitExceeded(LoadError(f"nesting deeper than {MAX_DEPTH} levels", span,
                                           "a de-id profile needs only a few levels", "too-deep"))
        self.source.values.setdefault(pointer, span)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            result: dict = {}
            first_seen: dict[object, Span] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, pointer + "/#key", depth + 1)
                if isinstance(key, (dict, list)):
                    key = json.dumps(key, sort_keys=True, default=str)
                member = f"{pointer}/{escape(key)}"
                key_span = Span.from_marks(key_node.start_mark, key_node.end_mark)
                if key in first_seen:
                    self.source.duplicates.append(
                        DuplicateKey(member, str(key), first_seen[key], key_span))
                    self.source.values.pop(member, None)
                first_seen[key] = key_span
                self.source.keys[member] = key_span
                result[key] = self.build(value_node, member, depth + 1)
            self.source.values.pop(pointer + "/#key", None)
            self.source.scalars.pop(pointer + "/#key", None)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, f"{pointer}/{index}", depth + 1)
                    for index, item in enumerate(node.value)]
        self.source.scalars[pointer] = Scalar(node.value, node.style, node.tag)
        try:
            return self.constructor.construct_object(node, deep=True)
        except ValueError as exc:  # an integer of thousands of digits, a date like 2024-02-30
            kind = node.tag.rsplit(":", 1)[-1]
            message = (f"a number of {len(node.value)} characters, too long to read"
                       if kind == "int" else f"a {kind} YAML cannot read: {exc}")
            raise _LimitExceeded(LoadError(message, span, "quote it if it is meant as text",
                                           "too-large" if kind == "int" else "syntax")) from None
