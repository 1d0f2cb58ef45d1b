"""What SQLMesh state holds for a snapshot must be the code its fingerprint names.

SQLMesh identifies a snapshot by its fingerprint: a hash of the model's data-affecting definition
(query, kind, columns, pre- and post-statements, macros), one of its metadata (audits, owner,
signals) and those of its parents. A run's consistency check (`runner.refuse_unapplied_models`)
compares the identifier state holds for each selected model with the deployed code's. But state
keeps the model definition it runs (the `snapshot` payload) next to that fingerprint, and SQLMesh
never hashes a stored definition again: it fills the definition's hash cache from the stored
fingerprint. A definition rewritten in state under the same identifier would run unnoticed.

`tampered_snapshots` hashes each stored definition again and compares the result with the stored
fingerprint, whose identifier is the code's: a run refuses to start on a mismatch. It catches a
definition changed in place (by anyone who could write the state tables) and a snapshot planted
under the identifier the code would have (the preview role may insert snapshots: see
`docs/threat-model.md`). Fields SQLMesh leaves out of its fingerprint, and a forged definition
whose 32-bit hashes collide with the real one's, are not caught.

Imported only when a run starts (it imports SQLMesh's snapshots through the runner).
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable

if t.TYPE_CHECKING:
    from sqlmesh.core.snapshot import Snapshot


def tampered_snapshots(snapshots: Iterable[Snapshot]) -> list[str]:
    """The names of the snapshots whose stored definition does not hash to their fingerprint.

    Args:
        snapshots: Snapshots as read from SQLMesh state (what a run would evaluate).
    """
    found = []
    for snapshot in snapshots:
        fingerprint = snapshot.fingerprint
        if (
            _hashes_of_stored_definition(snapshot)
            != (fingerprint.data_hash, fingerprint.metadata_hash)
            or fingerprint.to_identifier() != snapshot.snapshot_id.identifier
        ):
            found.append(snapshot.name)
    return sorted(found)


def _hashes_of_stored_definition(snapshot: Snapshot) -> tuple[str, str]:
    """The data and metadata hashes of the definition state holds, computed from it.

    SQLMesh fills a stored definition's hash cache from the stored fingerprint when it loads a
    snapshot (`sqlmesh.core.snapshot.cache`); emptying that cache makes the next read hash the
    definition itself. It is emptied on the node the run evaluates, whose rendered query SQLMesh
    already cached at load, so nothing is rendered twice (a `copy()` of the node would render
    every query again: about 15 ms a model). An honest definition ends up with the same hashes.
    """
    node = snapshot.node
    # Pydantic private attributes, which SQLMesh's own cache writes (mypy sees read-only ones).
    node._data_hash = None  # type: ignore[misc]
    node._metadata_hash = None  # type: ignore[misc]
    return node.data_hash, node.metadata_hash
