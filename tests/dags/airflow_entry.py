"""Runs inside the Airflow virtualenv (.venv-airflow), started by the tests in this folder.

    python airflow_entry.py dagbag                     -> RESULT {"dags", "import_errors", "warnings"}
    python airflow_entry.py run <dag_id> '<conf json>' -> RESULT {"state", "xcom": <find_and_send's XCom>}

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


def run(dag_id: str, run_conf: dict) -> dict:
    from airflow.configuration import conf
    from airflow.models.dagbag import DagBag

    bag = DagBag(conf.get("core", "dags_folder"), include_examples=False)
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    dag_run = dag.test(run_conf=run_conf)
    ti = dag_run.get_task_instance("find_and_send")
    return {
        "state": str(dag_run.state),
        "task_states": {t.task_id: str(t.state) for t in dag_run.get_task_instances()},
        "xcom": ti.xcom_pull(task_ids="find_and_send") if ti is not None else None,
    }


if __name__ == "__main__":
    if sys.argv[1] == "dagbag":
        out = dagbag()
    else:
        out = run(sys.argv[2], json.loads(sys.argv[3]) if len(sys.argv) > 3 else {})
    print(RESULT + json.dumps(out, default=str), flush=True)
