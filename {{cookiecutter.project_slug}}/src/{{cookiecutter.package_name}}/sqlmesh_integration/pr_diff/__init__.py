"""The pull request's data diff: what runs in CI for a pull request (`sqlmesh-dagster data-diff`).

`collect.py` compares a pull request's environment with prod through SQLMesh, `report.py` holds
the result as plain data, and `markdown.py` renders the comment.
"""
