"""A sample project as a code location, executed the way `dg launch` executes a job.

`dg launch --job <name>` loads the code location from a code pointer and runs the job with
`execute_job` on the instance of DAGSTER_HOME, with the executor the definitions set (the
in-process executor). Tests here do the same on the persistent `instance` fixture: the code
location is a Python file holding the SQLMesh component's definitions for the sample copy, and a
job is reconstructed from it by name. A re-execution goes through the same path, as Dagster's
re-execution of a run does (`ReexecutionOptions`). Results are read back from the instance.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from ..support import SampleProject, prepared_manifest

_LOCATION = """\
from {{ cookiecutter.package_name }}.sqlmesh_integration import SQLMeshProjectComponent
from {{ cookiecutter.package_name }}.sqlmesh_integration.definitions.manifest import load_manifest

component = SQLMeshProjectComponent(project={project!r}, gateway="local")
defs = component.build_defs_from_manifest(load_manifest(component.sqlmesh_project))
"""


def code_location(sample: SampleProject) -> ReconstructableRepository:
    """The sample's SQLMesh component as a code location (its manifest prepared first)."""
    prepared_manifest(sample.project)
    path = sample.root / "code_location.py"
    path.write_text(_LOCATION.format(project=str(sample.project.project_dir)))
    return ReconstructableRepository.for_file(str(path), "defs", working_directory=str(sample.root))


def launch(
    location: ReconstructableRepository,
    instance: dg.DagsterInstance,
    job_name: str,
    **options: object,
) -> dg.JobExecutionResult:
    """`dg launch --job <job_name>`: the job, executed on the instance (options: execute_job's)."""
    job = location.get_reconstructable_job(job_name)
    return dg.execute_job(job, instance=instance, **options)  # type: ignore[arg-type]


def step_failure(instance: dg.DagsterInstance, run_id: str) -> tuple[str, dict[str, Any]]:
    """The failed step's message and the metadata of its `dagster.Failure`."""
    (event,) = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    assert event.dagster_event is not None
    data = event.dagster_event.step_failure_data
    assert data.user_failure_data is not None, "the step failed with an error, not a Failure"
    metadata = {key: value.value for key, value in data.user_failure_data.metadata.items()}
    return data.error.message if data.error else "", metadata
