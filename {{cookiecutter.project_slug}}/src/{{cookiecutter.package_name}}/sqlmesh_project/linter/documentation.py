"""Project lint rule: every model says who owns it and what it and its columns mean.

Dagster shows the owner, the description and the column descriptions of each SQLMesh model on its
asset page, so a model without them is an asset nobody can ask about.
"""

from __future__ import annotations

from sqlmesh.core.linter.rule import Rule, RuleViolation
from sqlmesh.core.model import ExternalModel, Model


class NoMissingDocumentation(Rule):
    """Models need an owner, a description and a description for every column."""

    def check_model(self, model: Model) -> RuleViolation | None:
        if isinstance(model, ExternalModel):
            return None
        missing = []
        if not model.owner:
            missing.append("an owner")
        if not model.description:
            missing.append("a description")
        undocumented = sorted(
            column
            for column in (model.columns_to_types or {})
            if not model.column_descriptions.get(column)
        )
        if undocumented:
            missing.append("descriptions for column(s) " + ", ".join(undocumented))
        if not missing:
            return None
        return self.violation(f"Model {model.name} is missing {' and '.join(missing)}.")
