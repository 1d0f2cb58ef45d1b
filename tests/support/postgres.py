"""The test PostgreSQL server: where it is, SQL run on it, and gateways pointing at it.

The server is TEMPLATE_TEST_POSTGRES_DSN (default postgresql://postgres@127.0.0.1:5432/postgres;
`.ci/run` starts one when none answers). Used by the drills that keep SQLMesh state or data in
Postgres (test_reliability.py, test_first_deploy.py, test_state_guard.py).
"""

from __future__ import annotations

import os

from projects import Project

POSTGRES_DSN = os.environ.get(
    "TEMPLATE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgres_sql(
    project: Project, server: dict[str, str], statement: str, database: str | None = None
) -> str:
    """Runs one statement with the project's psycopg2 (on the maintenance database by default)."""
    code = (
        "import sys, psycopg2\n"
        "host, port, user, password, database, statement = sys.argv[1:]\n"
        "try:\n"
        "    connection = psycopg2.connect(host=host, port=port, user=user, password=password,"
        " dbname=database, connect_timeout=10)\n"
        "except psycopg2.OperationalError as error:\n"
        "    sys.exit(f'No PostgreSQL server at {host}:{port} ({error}); start one or set"
        " TEMPLATE_TEST_POSTGRES_DSN (.ci/run starts one).')\n"
        "connection.autocommit = True\n"
        "cursor = connection.cursor()\n"
        "cursor.execute(statement)\n"
        "print(cursor.fetchall() if cursor.description else '')\n"
        "connection.close()\n"
    )
    result = project.run(
        [
            str(project.path / ".venv/bin/python"),
            "-c",
            code,
            server["host"],
            server["port"],
            server["user"],
            server["password"],
            database or server["maintenance"],
            statement,
        ]
    )
    return result.stdout.strip()


def add_gateway(project: Project, name: str, body: str) -> None:
    """Adds a gateway to the copy's settings.yaml (the shipped one is not touched)."""
    config = project.sqlmesh_project / "settings.yaml"
    text = config.read_text()
    assert "\ngateways:\n" in text
    indented = "".join(f"    {line}\n" for line in body.strip().splitlines())
    config.write_text(text.replace("\ngateways:\n", f"\ngateways:\n  {name}:\n{indented}", 1))
