"""Errors raised by the SQLMesh integration.

Every error derives from :class:`SQLMeshIntegrationError`, and every message names the object, what
was observed and the command or change that fixes it, so a failed Dagster run tells the user what to
do next.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .metadata import (
    METADATA_ENVIRONMENT,
    METADATA_FAILED_MODELS,
    METADATA_NOT_APPLIED_MODELS,
    METADATA_SKIPPED_MODELS,
)

# What a credential looks like in text SQLMesh, drivers and connection strings produce:
# `motherduck_token=...`, `password='...'`, `"access_token": "..."`, `SNOWFLAKE_PASSWORD=...`,
# `aws_secret_access_key = ...`, `X-Api-Key: ...`, and the password between `user:` and `@` in a
# connection URL.
_SECRET_SETTING = re.compile(
    r"""(?P<key>\b[\w.-]*(?:token|password|passwd|pwd|secret|api[_-]?key|private[_-]?key"""
    r"""|access[_-]?key|credentials)["']?\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*'|[^\s&;,'")\]}]+)""",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(
    r"(?P<prefix>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+(?=@)", re.IGNORECASE
)
# Credentials that need no key to be recognised: an HTTP bearer token, a PEM private key block (or
# what is left of one when the text was cut), a DER key in base64, a JWT (MotherDuck's tokens are
# JWTs), Databricks personal access tokens and GitHub tokens.
_BARE_SECRETS = (
    re.compile(r"(?P<keep>\bbearer\s+)[\w.~+/-]{12,}=*", re.IGNORECASE),
    re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*)",
        re.DOTALL,
    ),
    re.compile(r"\bMII[A-Za-z0-9+/]{60,}={0,2}"),
    re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*"),
    re.compile(r"\bdapi[0-9a-f]{32}(?:-\d+)?\b"),
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,})\b"),
)
MASK = "***"


def mask_secrets(text: str) -> str:
    """Returns `text` with tokens, passwords, keys and the passwords of URLs replaced by `***`.

    Every message this integration puts into a Dagster event, log line, metadata value or pull
    request comment goes through here, since SQLMesh and the database drivers quote connection
    settings in their errors. Masked: `<name>=<value>` and `"<name>": <value>` settings whose name
    ends in token, password, secret, api key, access key, private key or credentials; URL
    passwords; bearer tokens; PEM and base64 DER private keys; JWTs (MotherDuck tokens);
    Databricks (`dapi...`) and GitHub tokens.

    Example:
        >>> mask_secrets("md:analytics?motherduck_token=abc123")
        'md:analytics?motherduck_token=***'
    """
    for pattern in _BARE_SECRETS:
        text = pattern.sub(lambda match: (match.groupdict().get("keep") or "") + MASK, text)
    text = _URL_PASSWORD.sub(lambda match: match["prefix"] + MASK, text)
    return _SECRET_SETTING.sub(lambda match: match["key"] + MASK, text)


class SQLMeshIntegrationError(Exception):
    """Base class of every error this integration raises; its message has secrets masked.

    `metadata` holds what the error is about (the failed, skipped or not applied models): a failed
    step reports it as the metadata of its Dagster failure, which always names the failed and the
    skipped models (`resource.step_failure`: an error naming none failed none, and skipped every
    selected model not yet materialized).
    """

    def __init__(self, message: str, metadata: Mapping[str, object] | None = None) -> None:
        super().__init__(mask_secrets(message))
        self.metadata: dict[str, object] = dict(metadata or {})


class InvalidInputError(SQLMeshIntegrationError, ValueError):
    """A value given to the integration is not usable (a model tag, an argument, a number).

    The message names the value and the fix. Also a `ValueError`, as it always was.
    """


def masked_cause(error: BaseException) -> Exception:
    """A stand-in for `error` to raise from: its type and masked message, with its traceback.

    Dagster records an error's cause chain in the run's events; the original exception's text may
    hold a credential (a driver quoting its connection string), so it is not chained itself.
    """
    cause = Exception(f"{type(error).__name__}: {mask_secrets(str(error))}")
    return cause.with_traceback(error.__traceback__)


class BranchDeploymentEnvironmentError(SQLMeshIntegrationError):
    """A Dagster+ branch deployment was pointed at a SQLMesh environment other than its own."""

    def __init__(self, own: str | None, requested: str) -> None:
        if own is None:
            message = (
                "This Dagster+ branch deployment has no DAGSTER_CLOUD_PULL_REQUEST_ID, so it may "
                f"not use SQLMesh environment `{requested}`: deploy it from a pull request (CI's "
                "branch-deployment job does)."
            )
        else:
            message = (
                f"This Dagster+ branch deployment may only use SQLMesh environment `{own}`, not "
                f"`{requested}`: remove SQLMESH_ENVIRONMENT from its Dagster+ environment "
                "variables (and any `environment` set on the SQLMesh resource)."
            )
        super().__init__(message)


class ManifestMissingError(SQLMeshIntegrationError):
    """No prepared manifest where definitions are loaded from."""

    def __init__(self, path: str, command: str) -> None:
        super().__init__(
            f"No SQLMesh manifest in {path}: run `{command}` before loading the definitions "
            "(CI runs it before the Dagster+ deploy build, so the manifest ships with the code)."
        )


class ManifestStaleError(SQLMeshIntegrationError):
    """The prepared manifest was built from other SQLMesh project files than the ones loaded."""

    def __init__(self, path: str, command: str) -> None:
        super().__init__(
            f"The SQLMesh manifest at {path} was prepared from other project files than the ones "
            f"loaded: run `{command}` after the last model change (and deploy again)."
        )


class ManifestInvalidError(SQLMeshIntegrationError):
    """The manifest file cannot be read (corrupt, or written by another version)."""

    def __init__(self, path: str, reason: str, command: str) -> None:
        super().__init__(
            f"The SQLMesh manifest at {path} cannot be read ({reason}): run `{command}` to "
            "write it again."
        )


class ProjectNotFoundError(SQLMeshIntegrationError, FileNotFoundError):
    """No SQLMesh project folder where one was looked for. Also a `FileNotFoundError`."""

    def __init__(self, folder: str, start: str) -> None:
        super().__init__(
            f"No SQLMesh project folder `{folder}` with a config.yaml above {start}: "
            "pass its path to SQLMeshProject."
        )


class ModelNotFoundError(SQLMeshIntegrationError, KeyError):
    """The manifest has no model of that name. Also a `KeyError`."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"The SQLMesh manifest has no model `{name}`: use the model's fully qualified name "
            '(`"catalog"."schema"."table"`), and prepare the manifest again after adding it.'
        )

    def __str__(self) -> str:
        return str(self.args[0])  # not KeyError's quoted repr


class ProjectLoadError(SQLMeshIntegrationError):
    """SQLMesh could not load the project to prepare the manifest."""

    def __init__(self, project_dir: str, cause: BaseException) -> None:
        super().__init__(
            f"SQLMesh could not load the project at {project_dir} ({type(cause).__name__}: "
            f"{first_line(cause)}): fix the model or config it names, then load the definitions "
            "again."
        )


class UnmappedNodeError(SQLMeshIntegrationError):
    """A node SQLMesh would run (a model or an audit) has no place among the Dagster definitions.

    Raised while the manifest is prepared, so that no definitions load without it: every model
    SQLMesh evaluates is one asset and every audit it runs is one check, or the load stops here.
    """

    def __init__(self, kind: str, name: str, reason: str, fix: str) -> None:
        super().__init__(f"SQLMesh {kind} `{name}` cannot be shown in Dagster: {reason}; {fix}.")
        self.kind, self.name = kind, name


class SelectionError(SQLMeshIntegrationError):
    """A `select` or `exclude` of the component is not SQLMesh selector syntax it understands."""

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(
            f"SQLMesh model selector `{expression}` cannot be used ({reason}): use model names "
            "with `*` wildcards (`marts.*`), `tag:<tag>`, and `+` for upstream or downstream "
            "models (`+marts.customers`), separated by spaces."
        )


class EnvironmentNotFoundError(SQLMeshIntegrationError):
    """The target SQLMesh environment has never been planned and applied."""

    def __init__(self, environment: str, plan_command: str) -> None:
        super().__init__(
            f"SQLMesh environment `{environment}` does not exist in the state database: "
            f"apply it first with `{plan_command}`."
        )


class ModelsNotAppliedError(SQLMeshIntegrationError):
    """The selected models' code differs from what was applied to the environment."""

    def __init__(self, environment: str, models: Iterable[str], plan_command: str) -> None:
        self.models = sorted(models)
        listed = ", ".join(f"`{name}`" for name in self.models)
        super().__init__(
            f"Model(s) {listed} changed since they were applied to `{environment}` (or were never "
            f"applied): run `{plan_command}` first, then materialize again (in a deployment: "
            "deploy the code that was applied).",
            {METADATA_NOT_APPLIED_MODELS: self.models, METADATA_ENVIRONMENT: environment},
        )


class StateTamperedError(SQLMeshIntegrationError):
    """State holds a definition of a selected model that its fingerprint does not describe."""

    def __init__(self, environment: str, models: Iterable[str]) -> None:
        self.models = sorted(models)
        listed = ", ".join(f"`{name}`" for name in self.models)
        super().__init__(
            f"SQLMesh state holds definition(s) of {listed} in `{environment}` that do not hash "
            "to their fingerprint: the stored model was changed after it was planned, so nothing "
            "was run. As the state database's owner, delete those rows from `sqlmesh._snapshots` "
            "and apply the code again (`sqlmesh plan`), then find out who could write them "
            '(docs/threat-model.md, "Tampered state").',
            {METADATA_NOT_APPLIED_MODELS: self.models, METADATA_ENVIRONMENT: environment},
        )


class StateConnectionError(SQLMeshIntegrationError):
    """The SQLMesh state database or the warehouse could not be reached."""

    def __init__(self, gateway: str, cause: BaseException) -> None:
        super().__init__(
            f"SQLMesh could not connect for gateway `{gateway}` ({type(cause).__name__}: "
            f"{first_line(cause)}): check the connection settings and credentials of that gateway "
            "in the SQLMesh project's config and the environment variables they read."
        )


class RunLockTimeoutError(SQLMeshIntegrationError):
    """Another SQLMesh run held the DuckDB lock for longer than allowed."""

    def __init__(self, lock_path: str, timeout_seconds: float) -> None:
        self.lock_path = lock_path
        super().__init__(
            f"Another SQLMesh run held the lock {lock_path} for more than {timeout_seconds:.0f} s: "
            "wait for it to finish (or stop it), or raise `lock_timeout_seconds` on the "
            "SQLMesh resource."
        )


class ModelRunFailedError(SQLMeshIntegrationError):
    """SQLMesh reported failed models; the ones that succeeded were already reported."""

    def __init__(
        self, failures: Mapping[str, str], skipped: Iterable[str], environment: str
    ) -> None:
        self.failures = dict(failures)
        self.skipped = sorted(skipped)
        lines = [f"- {name}: {cause}" for name, cause in sorted(self.failures.items())]
        message = (
            f"SQLMesh failed {len(self.failures)} model(s) in `{environment}`; fix them and "
            "materialize again (the missing intervals are filled by the next run):\n"
            + "\n".join(lines)
        )
        if self.skipped:
            message += "\nNot run because an upstream model failed: " + ", ".join(self.skipped)
        super().__init__(
            message,
            {
                METADATA_FAILED_MODELS: sorted(self.failures),
                METADATA_SKIPPED_MODELS: self.skipped,
                METADATA_ENVIRONMENT: environment,
            },
        )


class RunFailedError(SQLMeshIntegrationError):
    """SQLMesh's run failed without naming a model (engine or state error)."""

    def __init__(self, environment: str, cause: BaseException | None = None) -> None:
        detail = f" ({type(cause).__name__}: {first_line(cause)})" if cause else ""
        super().__init__(
            f"`sqlmesh run` for `{environment}` failed{detail}: see the SQLMesh log lines above, "
            "fix the cause and materialize again."
        )


class PartitionRangeError(SQLMeshIntegrationError):
    """A run's partition range cannot be turned into one SQLMesh time range."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"{reason}: launch one partition range per partitions definition (the UI's backfill "
            "does), or launch without a partition range to run whatever SQLMesh has due."
        )


class UnsupportedPartitionsError(SQLMeshIntegrationError):
    """An asset's partitions are not time windows, so SQLMesh intervals cannot map to them."""

    def __init__(self, asset: str, kind: str) -> None:
        super().__init__(
            f"Asset {asset} has partitions that are not time windows ({kind}), which SQLMesh "
            "intervals cannot map to: return a time-window partitions definition, or None, from "
            "the translator's `get_partitions_def`."
        )


class RestatementError(SQLMeshIntegrationError):
    """A requested restatement was refused before SQLMesh cleared anything."""


class RestatementNeedsRangeError(RestatementError):
    """Restating partitioned models without a partition range would clear their whole history."""

    def __init__(self, models: Iterable[str]) -> None:
        listed = ", ".join(f"`{name}`" for name in sorted(models))
        super().__init__(
            f"Restating partitioned model(s) {listed} needs a partition range (without one SQLMesh "
            "would clear their whole history): launch with `--partition-range <first>...<last>` "
            "or select the partitions in the UI's backfill dialog."
        )


class RestatementChangesCodeError(RestatementError):
    """SQLMesh's restatement plan would also apply code changes (ADR-0008: Dagster never does)."""

    def __init__(self, environment: str, models: Iterable[str], plan_command: str) -> None:
        listed = ", ".join(f"`{name}`" for name in sorted(models))
        super().__init__(
            f"The restatement plan for `{environment}` would also change the code of {listed}; "
            f"Dagster never applies code: run `{plan_command}` first (in CI), then restate again."
        )


class RestateTagError(RestatementError):
    """The run's `sqlmesh/restate` tag holds a value other than true or false."""

    def __init__(self, tag: str, value: str) -> None:
        super().__init__(
            f"Run tag `{tag}` is {value!r}: set it to `true` to recompute the selected partitions "
            "through SQLMesh's restatement, or remove it."
        )


class AlertPoliciesError(SQLMeshIntegrationError, ValueError):
    """`alert_policies.yaml` does not follow Dagster+'s format, or names a variable not set."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message, with secrets masked."""
    text = mask_secrets(str(error)).strip()
    return text.splitlines()[0] if text else "no message"
