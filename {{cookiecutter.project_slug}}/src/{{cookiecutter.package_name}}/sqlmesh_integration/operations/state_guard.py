"""Guarded SQLMesh state on Postgres: what the pull request role may write, and nothing more.

SQLMesh's virtual environments share one state between prod and every `pr_<number>` environment,
so the role pull requests run as (the `preview` GitHub Environment's state user, and Dagster+
branch deployments') needs to write state. `sqlmesh-dagster state-guard` narrows that role to what
a pull request's plan, apply, run and invalidate issue (read from Postgres's statement log of
those commands, SQLMesh 0.236):

- read everything;
- insert snapshots (new ones only: the primary key refuses an existing identifier), never
  paused-state or payload updates: the one column it may update is `updated_ts`, which SQLMesh
  touches on snapshots that leave a pull request's environment (their time-to-live; it decides
  nothing that runs);
- insert, update and delete environment rows and environment statements of `pr_<number>`
  environments only;
- insert intervals, except intervals that count for prod: a row for a (model, version) that prod's
  environment uses may only be a dev interval (`is_dev`, the forward-only preview's own table),
  never a filled, removed or pending-restatement interval of prod's table;
- nothing else: no `_versions` or `_auto_restatements` writes, no delete or update of intervals,
  no schema changes.

Grants and row-level security do it; the state's owner (prod's apply) bypasses row-level security
as the tables' owner, and other roles keep what their grants give them. The SQL is idempotent: run
the command again after every `sqlmesh migrate` (a migration may recreate tables, dropping their
grants and policies). `--print` prints it for a database administrator to review or run.
"""

from __future__ import annotations

import argparse
import re
import typing as t
from dataclasses import dataclass

from ..errors import InvalidInputError, SQLMeshIntegrationError

if t.TYPE_CHECKING:
    from ..definitions.project import SQLMeshProject

# Environment names of pull requests (`project.pull_request_environment`), as a Postgres regex.
PULL_REQUEST_ENVIRONMENT_PATTERN = "^pr_[0-9]+$"
# SQLMesh 0.236's state tables: the ones a pull request writes, and the ones it only reads.
WRITTEN_TABLES = ("_snapshots", "_intervals", "_environments", "_environment_statements")
READ_TABLES = ("_versions", "_auto_restatements")
# Policy names start with this, so a second run replaces them and nothing else.
POLICY_PREFIX = "sqlmesh_dagster_guard"


class StateGuardError(SQLMeshIntegrationError):
    """The state database or the preview role is not one the guard can be set up on."""


@dataclass(frozen=True)
class StateGuard:
    """The guard's SQL for one state schema and one preview role."""

    schema: str
    preview_role: str

    def statements(self) -> list[str]:
        """Every statement, in order; run them in one transaction as the state tables' owner."""
        schema, role = _identifier(self.schema), _identifier(self.preview_role)
        snapshots, intervals, environments, statements = (
            f"{schema}.{_identifier(name)}" for name in WRITTEN_TABLES
        )
        prod_versions = f"{schema}.{_identifier(POLICY_PREFIX + '_prod_versions')}"
        is_pull_request = f"~ '{PULL_REQUEST_ENVIRONMENT_PATTERN}'"
        return [
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}",
            f"REVOKE CREATE ON SCHEMA {schema} FROM {role}",
            f"GRANT USAGE ON SCHEMA {schema} TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
            f"GRANT INSERT ON {snapshots}, {intervals}, {environments}, {statements} TO {role}",
            f"GRANT UPDATE (updated_ts) ON {snapshots} TO {role}",
            f"GRANT UPDATE, DELETE ON {environments}, {statements} TO {role}",
            # The (model, version) pairs prod's environment uses, from its stored snapshot list.
            f"CREATE OR REPLACE FUNCTION {prod_versions}() "
            "RETURNS TABLE (name text, version text) LANGUAGE sql STABLE AS $guard$ "
            "SELECT snapshot ->> 'name', snapshot ->> 'version' "
            f"FROM {environments} AS environment "
            "CROSS JOIN LATERAL json_array_elements(environment.snapshots::json) AS snapshot "
            "WHERE environment.name = 'prod' $guard$",
            f"REVOKE ALL ON FUNCTION {prod_versions}() FROM PUBLIC",
            f"GRANT EXECUTE ON FUNCTION {prod_versions}() TO {role}",
            *self._policies(
                environments,
                role,
                insert=f"name {is_pull_request}",
                update=f"name {is_pull_request}",
                delete=f"name {is_pull_request}",
            ),
            *self._policies(
                statements,
                role,
                insert=f"environment_name {is_pull_request}",
                update=f"environment_name {is_pull_request}",
                delete=f"environment_name {is_pull_request}",
            ),
            # New snapshots are paused: only prod's apply unpauses (as the owner).
            *self._policies(snapshots, role, insert="unpaused_ts IS NULL"),
            *self._policies(
                intervals,
                role,
                insert=(
                    "(COALESCE(is_dev, FALSE) AND NOT COALESCE(is_pending_restatement, FALSE)) "
                    f"OR NOT EXISTS (SELECT 1 FROM {prod_versions}() AS prod "
                    f"WHERE prod.name = {intervals}.name AND prod.version = {intervals}.version)"
                ),
            ),
        ]

    def sql(self) -> str:
        """The statements as one script, in a transaction (what `--print` shows)."""
        body = ";\n".join(self.statements())
        return f"BEGIN;\n{body};\nCOMMIT;\n"

    def _policies(
        self,
        table: str,
        role: str,
        *,
        insert: str,
        update: str | None = None,
        delete: str | None = None,
    ) -> list[str]:
        """Row-level security on `table`: everyone as their grants allow, `role` restricted.

        A permissive policy for everyone keeps other roles' access as it was (row-level security
        with no permissive policy hides every row); restrictive policies for `role` are added to
        it (AND), one per command `role` may run.
        """
        name = POLICY_PREFIX
        drops = [
            f"DROP POLICY IF EXISTS {_identifier(f'{name}_{suffix}')} ON {table}"
            for suffix in ("all", "insert", "update", "delete")
        ]
        policies = [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
            f"CREATE POLICY {_identifier(name + '_all')} ON {table} AS PERMISSIVE FOR ALL "
            "TO PUBLIC USING (TRUE) WITH CHECK (TRUE)",
            f"CREATE POLICY {_identifier(name + '_insert')} ON {table} AS RESTRICTIVE FOR INSERT "
            f"TO {role} WITH CHECK ({insert})",
        ]
        if update is not None:
            policies.append(
                f"CREATE POLICY {_identifier(name + '_update')} ON {table} AS RESTRICTIVE "
                f"FOR UPDATE TO {role} USING ({update}) WITH CHECK ({update})"
            )
        if delete is not None:
            policies.append(
                f"CREATE POLICY {_identifier(name + '_delete')} ON {table} AS RESTRICTIVE "
                f"FOR DELETE TO {role} USING ({delete})"
            )
        return drops + policies


def add_state_guard_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Adds `state-guard` to the `sqlmesh-dagster` command line."""
    parser = commands.add_parser(
        "state-guard",
        help="Limit the pull request role to writing pull request state (Postgres state only).",
    )
    parser.add_argument(
        "--preview-role",
        required=True,
        help="The Postgres role of the `preview` environment's state user.",
    )
    parser.add_argument(
        "--print",
        dest="print_only",
        action="store_true",
        help="Print the SQL instead of running it (nothing is read or changed).",
    )


def run_state_guard(project: SQLMeshProject, arguments: argparse.Namespace) -> int:
    """`sqlmesh-dagster state-guard`: checks the database and the role, then applies the guard."""
    from ..connection.context import gateway_name, load_config

    config = load_config(project)
    gateway = gateway_name(project, config)
    guard = StateGuard(
        schema=config.get_state_schema(gateway) or "sqlmesh",
        preview_role=_role_name(arguments.preview_role),
    )
    if arguments.print_only:
        print(guard.sql(), end="")
        return 0
    connection = config.get_state_connection(gateway) or config.get_connection(gateway)
    if connection.type_ != "postgres":
        raise StateGuardError(
            f"Gateway `{gateway}` keeps SQLMesh state in {connection.type_}, not Postgres: the "
            "guard needs Postgres grants and row-level security; run it with SQLMESH_GATEWAY "
            "naming the gateway whose state is in Postgres (prod)."
        )
    adapter = connection.create_engine_adapter()
    try:
        _check(adapter, guard)
        with adapter.transaction():
            for statement in guard.statements():
                adapter.execute(statement)
    finally:
        adapter.close()
    print(
        f"Guarded SQLMesh state schema `{guard.schema}` for role `{guard.preview_role}`: it may "
        "write pull request environments, new snapshots and intervals that do not count for prod. "
        "Run this again after every `sqlmesh migrate`."
    )
    return 0


def _check(adapter: t.Any, guard: StateGuard) -> None:
    """Refuses a role the guard could not hold, and a state that was never created."""
    (current_user,) = adapter.fetchone("SELECT current_user")
    role = adapter.fetchone(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = "
        f"{_literal(guard.preview_role)}"
    )
    if role is None:
        raise StateGuardError(
            f"Postgres has no role `{guard.preview_role}`: create the preview state user first "
            f"(CREATE ROLE {_identifier(guard.preview_role)} LOGIN PASSWORD '...'), then run "
            "this again."
        )
    if guard.preview_role == current_user or any(role):
        raise StateGuardError(
            f"Role `{guard.preview_role}` is the user running this, a superuser or a role that "
            "bypasses row-level security: the guard cannot hold it; give pull requests a role "
            "of their own with NOSUPERUSER NOBYPASSRLS."
        )
    owners = dict(
        adapter.fetchall(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = "
            f"{_literal(guard.schema)}"
        )
    )
    missing = sorted(set(WRITTEN_TABLES + READ_TABLES) - set(owners))
    if missing:
        raise StateGuardError(
            f"SQLMesh state schema `{guard.schema}` has no table(s) {', '.join(missing)}: apply "
            "prod once as the state's owner (`sqlmesh plan prod`), which creates them, then run "
            "this again."
        )
    member = adapter.fetchone(
        "SELECT bool_or(pg_has_role("
        f"{_literal(guard.preview_role)}, tableowner, 'USAGE')) FROM pg_tables "
        f"WHERE schemaname = {_literal(guard.schema)}"
    )
    if member and member[0]:
        raise StateGuardError(
            f"Role `{guard.preview_role}` owns the state tables or is a member of their owner "
            f"`{owners['_snapshots']}`, so it could drop the guard: create the tables with the "
            "production state user and give pull requests a role of their own."
        )


def _role_name(text: str) -> str:
    name = text.strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}", name):
        raise InvalidInputError(
            f"--preview-role {text!r} is not a Postgres role name: use letters, digits and "
            "underscores, e.g. sqlmesh_preview."
        )
    return name


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
