"""The first rotation of the admin and app passwords cannot race the migration: each rotation
schedule is created only after the migration custom resource has run."""
from __future__ import annotations


def _resources(template_json: dict, cfn_type: str) -> dict:
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == cfn_type}


def test_each_rotation_schedule_waits_for_the_migration(template_json):
    resources = template_json["Resources"]
    [migration_id] = [k for k, r in resources.items() if "MigrationsDigest" in r.get("Properties", {})]
    schedules = _resources(template_json, "AWS::SecretsManager::RotationSchedule")
    assert len(schedules) == 2  # admin and app
    for logical_id, schedule in schedules.items():
        assert migration_id in schedule.get("DependsOn", []), logical_id
