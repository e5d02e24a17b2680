"""A component for test_composition.py: one asset whose metadata shows the values its YAML was given."""

import dagster as dg


class ProbeComponent(dg.Component, dg.Model, dg.Resolvable):
    name: str
    end_date: str | None = None
    hours: int = 1

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        shown = {"end_date": self.end_date or "open", "hours": self.hours}
        return dg.Definitions(assets=[dg.AssetSpec(self.name, metadata=shown)])
