#!/usr/bin/env python3
"""Structural check of the Grafana dashboard (python3 standard library only).

usage: check_dashboard.py DASHBOARD.json

Checks what Grafana itself does not report until someone opens the dashboard:
- the file is a classic dashboard model (title, uid, schemaVersion, panels, templating);
- every panel (rows and the panels inside collapsed rows included) has a unique integer
  id, a type, a title, and a gridPos inside Grafana's 24-column grid; no two panels
  overlap;
- every datasource reference is the `${datasource}` variable (of type datasource, query
  prometheus) or Grafana's own built-in annotation source: no data source UID of one
  particular Grafana is baked in;
- every `$var`, `${var}`, `${var:format}` and `[[var]]` used anywhere (queries, legends,
  titles, descriptions, variable queries) names a variable defined in templating.list or
  one of Grafana's built-in `$__` variables, and a variable's query only uses variables
  defined before it (Grafana resolves them in list order); every defined variable is used;
- every query target has an expression and a refId unique within its panel.

Exit 0 when the dashboard passes, 1 with one line per problem otherwise.
"""

import json
import re
import sys

GRID_COLUMNS = 24
# Built-in variables Grafana substitutes in Prometheus queries, legends and titles.
BUILTIN_VARIABLES = {
    "__interval", "__interval_ms", "__rate_interval", "__rate_interval_ms", "__range",
    "__range_s", "__range_ms", "__from", "__to", "__dashboard", "__org", "__user", "__name",
    "__all", "__timeFilter", "__timezone",
}
BUILTIN_DATASOURCE_UIDS = {"-- Grafana --", "grafana"}
PANEL_TYPES = {"row", "timeseries", "stat", "table", "heatmap", "gauge", "bargauge", "text",
               "piechart", "state-timeline", "status-history", "histogram", "logs",
               "barchart", "alertlist", "dashlist", "news", "nodeGraph", "geomap", "canvas",
               "xychart", "trend", "flamegraph", "traces", "candlestick", "datagrid"}
VARIABLE_TYPES = {"query", "custom", "datasource", "constant", "interval", "textbox",
                  "adhoc", "groupby"}

# $name, ${name}, ${name:format}, [[name]] / [[name:format]]
VARIABLE_REF = re.compile(
    r"\$\{(?P<braced>[A-Za-z0-9_]+)(?::[^}]*)?\}"
    r"|\[\[(?P<bracketed>[A-Za-z0-9_]+)(?::[^\]]*)?\]\]"
    r"|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)")


def variable_refs(text):
    """Names of the variables a string refers to. `$1`-style regex back-references (as in
    label_replace) are not variables and do not match."""
    names = []
    for m in VARIABLE_REF.finditer(text):
        names.append(m.group("braced") or m.group("bracketed") or m.group("plain"))
    return names


def strings_in(value, path=""):
    """(path, string) for every string inside a JSON value."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings_in(v, f"{path}[{i}]")


def all_panels(panels):
    for p in panels:
        yield p
        # Collapsed rows keep their panels inside the row.
        yield from all_panels(p.get("panels") or [])


class Checker:
    def __init__(self, dashboard):
        self.d = dashboard
        self.problems = []

    def problem(self, where, what):
        self.problems.append(f"{where}: {what}")

    def run(self):
        d = self.d
        for key, kind in (("title", str), ("uid", str), ("schemaVersion", int),
                          ("panels", list), ("templating", dict), ("time", dict)):
            if not isinstance(d.get(key), kind):
                self.problem("dashboard", f"missing or wrong type: {key}")
        if self.problems:
            return self.problems
        if d["schemaVersion"] < 36:
            self.problem("dashboard", f"schemaVersion {d['schemaVersion']} predates "
                                      "datasource references by uid (36)")
        variables = self.check_variables()
        self.check_panels(variables)
        self.check_annotations(variables)
        self.check_usage(variables)
        return self.problems

    def check_variables(self):
        variables = {}
        for i, v in enumerate(self.d["templating"].get("list", [])):
            where = f"templating.list[{i}]"
            name = v.get("name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
                self.problem(where, f"bad variable name {name!r}")
                continue
            where = f"variable {name}"
            if name in variables:
                self.problem(where, "defined twice")
            if v.get("type") not in VARIABLE_TYPES:
                self.problem(where, f"unknown type {v.get('type')!r}")
            if v.get("type") == "datasource" and v.get("query") != "prometheus":
                self.problem(where, "a datasource variable of another type than prometheus")
            if v.get("type") == "query":
                query = v.get("query")
                if isinstance(query, dict):
                    query = query.get("query")
                if not isinstance(query, str) or not query.strip():
                    self.problem(where, "query variable without a query")
                self.check_datasource(where, v.get("datasource"), variables)
            # A variable may only use the variables Grafana has resolved before it.
            for path, text in strings_in({k: v[k] for k in ("query", "definition", "regex")
                                          if k in v}):
                for ref in variable_refs(text):
                    if ref in BUILTIN_VARIABLES:
                        continue
                    if ref not in variables:
                        self.problem(where, f"{path} uses ${ref}, which is not defined "
                                            "before it")
            variables[name] = v
        return variables

    def check_datasource(self, where, ds, variables):
        if ds is None:
            self.problem(where, "no datasource (would silently use the default one)")
            return
        if isinstance(ds, str):
            self.problem(where, f"datasource given by name {ds!r}, not by reference")
            return
        uid = ds.get("uid")
        if uid in BUILTIN_DATASOURCE_UIDS:
            return
        refs = variable_refs(uid or "")
        if len(refs) != 1 or refs[0] not in variables:
            self.problem(where, f"datasource uid {uid!r} is not a defined variable")
            return
        var = variables[refs[0]]
        if var.get("type") != "datasource":
            self.problem(where, f"datasource uid {uid!r} names a {var.get('type')} variable")
        elif ds.get("type") != var.get("query"):
            self.problem(where, f"datasource type {ds.get('type')!r} is not the variable's "
                                f"{var.get('query')!r}")

    def check_panels(self, variables):
        ids = {}
        boxes = []
        for p in all_panels(self.d["panels"]):
            pid = p.get("id")
            where = f"panel {pid} ({p.get('title')!r})"
            if not isinstance(pid, int) or isinstance(pid, bool):
                self.problem(where, "id is not an integer")
            elif pid in ids:
                self.problem(where, f"id {pid} is also used by panel {ids[pid]!r}")
            else:
                ids[pid] = p.get("title")
            if p.get("type") not in PANEL_TYPES:
                self.problem(where, f"unknown panel type {p.get('type')!r}")
            if not p.get("title"):
                self.problem(where, "no title")
            self.check_grid(where, p.get("gridPos"), p, boxes)
            if p.get("type") == "row":
                if p.get("targets"):
                    self.problem(where, "a row with queries")
                continue
            if "datasource" in p:
                self.check_datasource(where, p["datasource"], variables)
            targets = p.get("targets")
            if p.get("type") != "text" and not targets:
                self.problem(where, "no queries")
            refids = set()
            for j, t in enumerate(targets or []):
                twhere = f"{where} target {t.get('refId', j)}"
                if not t.get("refId"):
                    self.problem(twhere, "no refId")
                elif t["refId"] in refids:
                    self.problem(twhere, "refId used twice in the panel")
                refids.add(t.get("refId"))
                if not isinstance(t.get("expr"), str) or not t["expr"].strip():
                    self.problem(twhere, "no expr")
                self.check_datasource(twhere, t.get("datasource", p.get("datasource")),
                                      variables)
            for path, text in strings_in(p):
                for ref in variable_refs(text):
                    if ref not in variables and ref not in BUILTIN_VARIABLES:
                        self.problem(where, f"{path} uses undefined variable ${ref}")
        self.check_overlaps(boxes)

    def check_grid(self, where, g, panel, boxes):
        if not isinstance(g, dict):
            self.problem(where, "no gridPos")
            return
        vals = {k: g.get(k) for k in ("x", "y", "w", "h")}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals.values()):
            self.problem(where, f"gridPos {g} has a missing or non-integer field")
            return
        x, y, w, h = vals["x"], vals["y"], vals["w"], vals["h"]
        if x < 0 or y < 0 or w < 1 or h < 1:
            self.problem(where, f"gridPos {g} is negative or empty")
        if x + w > GRID_COLUMNS:
            self.problem(where, f"gridPos {g} ends at column {x + w}, past {GRID_COLUMNS}")
        if panel.get("type") == "row" and (w != GRID_COLUMNS or h != 1 or x != 0):
            self.problem(where, f"row gridPos {g} is not a full-width, one-high row")
        boxes.append((where, x, y, w, h))

    def check_overlaps(self, boxes):
        for i, (wa, xa, ya, wwa, ha) in enumerate(boxes):
            for wb, xb, yb, wwb, hb in boxes[i + 1:]:
                if xa < xb + wwb and xb < xa + wwa and ya < yb + hb and yb < ya + ha:
                    self.problem(wa, f"overlaps {wb}")

    def check_annotations(self, variables):
        for i, a in enumerate(self.d.get("annotations", {}).get("list", [])):
            where = f"annotation {a.get('name', i)!r}"
            self.check_datasource(where, a.get("datasource"), variables)
            for path, text in strings_in(a):
                for ref in variable_refs(text):
                    if ref not in variables and ref not in BUILTIN_VARIABLES:
                        self.problem(where, f"{path} uses undefined variable ${ref}")

    def check_usage(self, variables):
        used = set()
        for source in (self.d["panels"], self.d.get("annotations", {}),
                       self.d["templating"].get("list", [])):
            for _, text in strings_in(source):
                used.update(variable_refs(text))
        for name in variables:
            if name not in used:
                self.problem(f"variable {name}", "defined but never used")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path = sys.argv[1]
    try:
        with open(path, encoding="utf-8") as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{path}: {e}")
        return 1
    problems = Checker(dashboard).run()
    for p in problems:
        print(f"{path}: {p}")
    if problems:
        print(f"FAIL: {len(problems)} problem(s)")
        return 1
    panels = sum(1 for _ in all_panels(dashboard["panels"]))
    print(f"OK: {path}: {panels} panels, "
          f"{len(dashboard['templating'].get('list', []))} variables")
    return 0


if __name__ == "__main__":
    sys.exit(main())
