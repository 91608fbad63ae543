#!/usr/bin/env python3
"""check_dashboard.py must fail: the shipped dashboard passes, and each defect the
issue names (a duplicate panel id, a panel outside the grid, an undefined datasource or
template variable) is reported when it is put into a copy of it.

usage: check_dashboard_test.py DASHBOARD.json     (python3 standard library only)
"""

import copy
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_dashboard  # noqa: E402

DASHBOARD = None


def panels(d):
    return list(check_dashboard.all_panels(d["panels"]))


def first_query_panel(d):
    return next(p for p in panels(d) if p.get("targets"))


def problems(d):
    return check_dashboard.Checker(d).run()


class CheckDashboardTest(unittest.TestCase):
    def setUp(self):
        with open(DASHBOARD, encoding="utf-8") as f:
            self.d = json.load(f)

    def assertReported(self, d, fragment):
        found = problems(d)
        self.assertTrue(any(fragment in p for p in found),
                        f"no problem mentions {fragment!r}; reported: {found}")

    def test_shipped_dashboard_passes(self):
        self.assertEqual(problems(self.d), [])

    def test_duplicate_panel_id(self):
        d = copy.deepcopy(self.d)
        ps = panels(d)
        ps[-1]["id"] = ps[1]["id"]
        self.assertReported(d, f"id {ps[1]['id']} is also used")

    def test_panel_past_the_grid(self):
        d = copy.deepcopy(self.d)
        p = first_query_panel(d)
        p["gridPos"]["x"] = 24 - p["gridPos"]["w"] + 1
        self.assertReported(d, "past 24")

    def test_negative_grid_position(self):
        d = copy.deepcopy(self.d)
        first_query_panel(d)["gridPos"]["y"] = -1
        self.assertReported(d, "negative or empty")

    def test_overlapping_panels(self):
        d = copy.deepcopy(self.d)
        a, b = [p for p in panels(d) if p["type"] != "row"][:2]
        b["gridPos"] = dict(a["gridPos"])
        self.assertReported(d, "overlaps")

    def test_undefined_variable_in_a_query(self):
        d = copy.deepcopy(self.d)
        t = first_query_panel(d)["targets"][0]
        t["expr"] = t["expr"].replace("$instance", "$node", 1)
        self.assertIn("$node", t["expr"])
        self.assertReported(d, "undefined variable $node")

    def test_datasource_baked_in_by_uid(self):
        d = copy.deepcopy(self.d)
        first_query_panel(d)["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}
        self.assertReported(d, "is not a defined variable")

    def test_datasource_given_by_name(self):
        d = copy.deepcopy(self.d)
        first_query_panel(d)["targets"][0]["datasource"] = "Prometheus"
        self.assertReported(d, "datasource given by name")

    def test_datasource_variable_removed(self):
        d = copy.deepcopy(self.d)
        d["templating"]["list"] = [v for v in d["templating"]["list"]
                                   if v["type"] != "datasource"]
        self.assertReported(d, "is not a defined variable")

    def test_variable_used_before_it_is_defined(self):
        d = copy.deepcopy(self.d)
        names = [v["name"] for v in d["templating"]["list"]]
        self.assertIn("instance", names)
        # instance's query uses $job: move instance before job.
        lst = d["templating"]["list"]
        inst = lst.pop(names.index("instance"))
        lst.insert(names.index("job"), inst)
        self.assertReported(d, "which is not defined before it")

    def test_unused_variable(self):
        d = copy.deepcopy(self.d)
        d["templating"]["list"].append({"name": "spare", "type": "custom", "query": "a,b"})
        self.assertReported(d, "variable spare: defined but never used")

    def test_duplicate_ref_id(self):
        d = copy.deepcopy(self.d)
        p = first_query_panel(d)
        p["targets"].append(dict(p["targets"][0]))
        self.assertReported(d, "refId used twice")

    def test_target_without_expression(self):
        d = copy.deepcopy(self.d)
        first_query_panel(d)["targets"][0]["expr"] = " "
        self.assertReported(d, "no expr")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    DASHBOARD = sys.argv.pop(1)
    unittest.main(verbosity=2)
