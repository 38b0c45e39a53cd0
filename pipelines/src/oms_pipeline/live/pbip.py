"""Reader of the Power BI project source (PBIP) the local dashboard is generated from.

- the semantic model's measures and relationships, from the TMDL files of
  ``powerbi/OmsLakehouse.SemanticModel/definition`` (``tables/*.tmdl``, ``relationships.tmdl``);
- the report's pages and visuals, from the PBIR files of ``powerbi/OmsLakehouse.Report/definition``
  (``pages/pages.json``, ``pages/<page>/page.json``, ``pages/<page>/visuals/<visual>/visual.json``).

Only what the local dashboard needs is read, and anything else in the shape it reads is refused
with an error naming the file and what is allowed (a reader that guessed would draw a wrong chart).
Syntax followed: "Tabular Model Definition Language (TMDL)" (objects by indentation, ``///``
descriptions, a multi-line expression indented one level deeper than the object's properties) and
"Power BI enhanced report format (PBIR)" (one folder per page and per visual).

The PBIP folder is found at ``$OMS_POWERBI_DIR`` or, by default, at ``powerbi/`` of the
repository this package is installed from (``scripts/bootstrap`` installs it editable). A wheel
does not carry the report source: the local dashboard runs from a checkout, and a wheel
installation that serves it sets ``OMS_POWERBI_DIR``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_DIR = "OmsLakehouse.SemanticModel/definition"
REPORT_DIR = "OmsLakehouse.Report/definition"


class PbipError(ValueError):
    """A PBIP file the reader cannot read as the dashboard needs it (message names the file)."""


def pbip_root() -> Path:
    """The ``powerbi/`` folder: ``$OMS_POWERBI_DIR`` or the repository's, else ``PbipError``."""
    env = os.environ.get("OMS_POWERBI_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[4] / "powerbi"
    if not (root / MODEL_DIR).is_dir() or not (root / REPORT_DIR).is_dir():
        raise PbipError(
            f"no Power BI project at {root} (expected {MODEL_DIR} and {REPORT_DIR}); run from a "
            "checkout of the repository or set OMS_POWERBI_DIR to its powerbi/ folder"
        )
    return root


# --- TMDL ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TmdlMeasure:
    """A measure of the model: ``name``, home ``table``, DAX ``expression`` and its properties."""

    name: str
    table: str
    expression: str
    format_string: str | None
    description: str


@dataclass(frozen=True)
class Relationship:
    """``from_table.from_column`` (many side) -> ``to_table.to_column`` (one side)."""

    from_table: str
    from_column: str
    to_table: str
    to_column: str
    active: bool


_NAME = r"(?:'(?:[^']|'')+'|[^\s=']+)"
_OBJECT = re.compile(
    rf"^(\t*)(table|measure|column|partition|hierarchy)\s+({_NAME})(?:\s*=\s*(.*))?$"
)


def _unquote(name: str) -> str:
    return name[1:-1].replace("''", "'") if name.startswith("'") else name


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip("\t"))


def read_measures(model_dir: Path) -> list[TmdlMeasure]:
    """Every ``measure`` of ``<model_dir>/tables/*.tmdl``, in file then line order.

    Raises ``PbipError`` for a measure without an expression, a fenced (```) expression or a
    file without a ``table`` declaration.
    """
    out: list[TmdlMeasure] = []
    for path in sorted((model_dir / "tables").glob("*.tmdl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        table: str | None = None
        doc: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if stripped.startswith("///"):
                doc.append(stripped[3:].strip())
                i += 1
                continue
            m = _OBJECT.match(line)
            if m is None:
                if stripped:
                    doc = []
                i += 1
                continue
            depth, kind, name, expr = len(m.group(1)), m.group(2), _unquote(m.group(3)), m.group(4)
            description, doc = " ".join(doc), []
            i += 1
            if kind == "table":
                table = name
                continue
            if kind != "measure":
                continue
            where = f"{path}: measure {name!r}"
            if table is None:
                raise PbipError(f"{where} comes before any 'table' declaration")
            body = [expr.strip()] if expr and expr.strip() else []
            if body and body[0].startswith("```"):
                raise PbipError(f"{where}: fenced (```) expressions are not supported")
            # A multi-line expression: the lines indented two levels below the measure.
            while i < len(lines) and (not lines[i].strip() or _depth(lines[i]) >= depth + 2):
                if lines[i].strip():
                    body.append(lines[i].strip())
                i += 1
            props: dict[str, str] = {}
            while i < len(lines) and lines[i].strip() and _depth(lines[i]) == depth + 1:
                key, _, value = lines[i].strip().partition(":")
                props[key.strip()] = value.strip()
                i += 1
            if not body:
                raise PbipError(f"{where} has no DAX expression")
            out.append(
                TmdlMeasure(name, table, " ".join(body), props.get("formatString"), description)
            )
    return out


def read_relationships(model_dir: Path) -> list[Relationship]:
    """The relationships of ``<model_dir>/relationships.tmdl`` (``isActive`` defaults to true)."""
    path = model_dir / "relationships.tmdl"
    out: list[Relationship] = []
    props: dict[str, str] | None = None

    def close() -> None:
        if props is None:
            return
        try:
            ft, fc = props["fromColumn"].split(".", 1)
            tt, tc = props["toColumn"].split(".", 1)
        except (KeyError, ValueError) as e:
            raise PbipError(f"{path}: a relationship needs fromColumn and toColumn") from e
        active = props.get("isActive", "true").lower() != "false"
        out.append(Relationship(_unquote(ft), _unquote(fc), _unquote(tt), _unquote(tc), active))

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("relationship "):
            close()
            props = {}
        elif props is not None and line.strip():
            key, _, value = line.strip().partition(":")
            props[key.strip()] = value.strip()
    close()
    return out


# --- PBIR ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A field a visual binds: a model ``column`` or ``measure`` of ``entity`` in ``role``."""

    role: str  # the visual's data role: Category, Y, Values, ...
    kind: str  # "column" or "measure"
    entity: str
    name: str

    @property
    def ref(self) -> str:
        """``entity.name``, the PBIR ``queryRef`` of the field."""
        return f"{self.entity}.{self.name}"


@dataclass(frozen=True)
class Sort:
    field: Field
    descending: bool


@dataclass(frozen=True)
class Visual:
    """A visual of a page: its folder ``name``, ``title``, ``type`` and bound ``fields``."""

    name: str
    title: str
    type: str
    x: float
    y: float
    fields: tuple[Field, ...]
    sort: tuple[Sort, ...]

    @property
    def columns(self) -> list[Field]:
        return [f for f in self.fields if f.kind == "column"]

    @property
    def measures(self) -> list[Field]:
        return [f for f in self.fields if f.kind == "measure"]


@dataclass(frozen=True)
class Page:
    name: str
    display_name: str
    visuals: tuple[Visual, ...]


_KINDS = {"Column": "column", "Measure": "measure"}


def _field(where: str, role: str, field: dict[str, Any]) -> Field:
    if len(field) != 1 or next(iter(field)) not in _KINDS:
        raise PbipError(
            f"{where}: field {json.dumps(field)[:120]} of role {role!r} is not supported; "
            "allowed: a Column or a Measure of a model table"
        )
    kind, body = next(iter(field.items()))
    try:
        entity = body["Expression"]["SourceRef"]["Entity"]
        name = body["Property"]
    except (KeyError, TypeError) as e:
        raise PbipError(f"{where}: {kind} without Expression.SourceRef.Entity/Property") from e
    return Field(role, _KINDS[kind], entity, name)


def _literal_text(objects: dict[str, Any], key: str) -> str | None:
    for obj in objects.get(key, []):
        lit = obj.get("properties", {}).get("text", {}).get("expr", {}).get("Literal", {})
        value = lit.get("Value")
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == "'":
            return value[1:-1].replace("''", "'")
    return None


def read_visual(path: Path) -> Visual:
    """One ``visual.json``; raises ``PbipError`` for a field that is not a column or measure."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    where = str(path)
    visual = doc.get("visual")
    if not isinstance(visual, dict) or "visualType" not in visual:
        raise PbipError(f"{where}: no visual.visualType (groups and shapes are not supported)")
    query = visual.get("query", {})
    fields = [
        _field(where, role, p["field"])
        for role, state in query.get("queryState", {}).items()
        for p in state.get("projections", [])
    ]
    sort = tuple(
        Sort(_field(where, "sort", s["field"]), s.get("direction") == "Descending")
        for s in query.get("sortDefinition", {}).get("sort", [])
    )
    title = _literal_text(visual.get("visualContainerObjects", {}), "title") or doc["name"]
    pos = doc.get("position", {})
    return Visual(
        doc["name"],
        title,
        visual["visualType"],
        float(pos.get("x", 0)),
        float(pos.get("y", 0)),
        tuple(fields),
        sort,
    )


def read_pages(report_dir: Path) -> list[Page]:
    """The report's pages in ``pageOrder``; each page's visuals top-to-bottom, left-to-right."""
    pages_dir = report_dir / "pages"
    order = json.loads((pages_dir / "pages.json").read_text(encoding="utf-8"))["pageOrder"]
    out = []
    for name in order:
        page = json.loads((pages_dir / name / "page.json").read_text(encoding="utf-8"))
        visuals = [read_visual(p) for p in sorted((pages_dir / name).glob("visuals/*/visual.json"))]
        visuals.sort(key=lambda v: (v.y, v.x, v.name))
        out.append(Page(name, page.get("displayName", name), tuple(visuals)))
    return out
