"""Operations: the janitor, the doctor, the state guard and alert policies.

What keeps a deployment healthy and says what is wrong with it: `janitor.py` (the job and
schedule) and `cleanup.py` (the janitor run itself), `doctor.py`, `state_guard.py` (the SQL that
guards SQLMesh's state), and `alert_policies.py` with `alert_policy_format.py`.
"""
