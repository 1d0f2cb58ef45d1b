"""A custom materialization: appends every evaluation's rows to the table."""

import typing as t

from sqlmesh import CustomMaterialization
from sqlmesh.core.model import Model


class AppendOnly(CustomMaterialization):  # type: ignore[type-arg]
    NAME = "append_only"

    def insert(
        self,
        table_name: str,
        query_or_df: t.Any,
        model: Model,
        is_first_insert: bool,
        render_kwargs: dict[str, t.Any],
        **kwargs: t.Any,
    ) -> None:
        self.adapter.insert_append(table_name, query_or_df)
