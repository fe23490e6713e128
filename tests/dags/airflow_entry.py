"""Runs inside the Airflow virtualenv (.venv-airflow), started by the tests in this folder.

    python airflow_entry.py dagbag                     -> RESULT {"dags", "import_errors", "warnings"}
    python airflow_entry.py run <dag_id> '<conf json>' -> RESULT {"state", "task_states", "xcom": <the counts>}

Everything else (connections, settings, the metadata DB) comes from AIRFLOW_* variables the
tests set. The last stdout line starting with RESULT is what the tests read.
"""
from __future__ import annotations

import json
import sys
import warnings

RESULT = "RESULT "


def dagbag() -> dict:
    from airflow.configuration import conf
    from airflow.models.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(conf.get("core", "dags_folder"), include_examples=False)
    return {
        "dags": sorted(bag.dags),
        "import_errors": bag.import_errors,
        # Warnings raised while parsing our files, and the ones DagBag itself captured.
        "warnings": [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught]
        + [str(w) for ws in getattr(bag, "captured_warnings", {}).values() for w in ws],
    }


def _counts(dag_run) -> dict | None:
    """The run's counts: the XCom of whichever path ran (find_and_send or collect_backfill)."""
    for task_id in ("find_and_send", "collect_backfill"):
        ti = dag_run.get_task_instance(task_id)
        value = ti.xcom_pull(task_ids=task_id) if ti is not None else None
        if value is not None:
            return value
    return None


def run(dag_id: str, run_conf: dict) -> dict:
    from airflow.configuration import conf
    from airflow.models.dagbag import DagBag

    bag = DagBag(conf.get("core", "dags_folder"), include_examples=False)
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    dag_run = dag.test(run_conf=run_conf)
    return {
        "state": str(dag_run.state),
        "task_states": {t.task_id: str(t.state) for t in dag_run.get_task_instances()},
        "xcom": _counts(dag_run),
    }


if __name__ == "__main__":
    if sys.argv[1] == "dagbag":
        out = dagbag()
    else:
        out = run(sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})
    print(RESULT + json.dumps(out, default=str), flush=True)
