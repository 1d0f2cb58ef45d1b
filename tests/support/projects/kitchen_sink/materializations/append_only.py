"""A custom materialization: the first evaluation creates the table, later ones append rows."""

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
        if is_first_insert:
            self._replace_query_for_model(model, table_name, query_or_df, render_kwargs)
        else:
            self.adapter.insert_append(table_name, query_or_df)
