"""A rough USD estimate of what sending a run's stale objects through the pipeline costs
(the dry run's report)."""
from __future__ import annotations

from functions.common.constants import UNSUPPORTED

# Rough cost of sending one object through the pipeline, in USD, for the dry run's estimate
# (us-east-1 on-demand prices; endpoints are billed per instance-hour whether busy or not, so
# the figure is the share of endpoint time one object occupies at the measured throughput in
# bench/README.md). Standard workflow transitions: $0.025 per 1,000
# (https://aws.amazon.com/step-functions/pricing/); about 10 per object with the Map.
_TRANSITIONS_PER_OBJECT = 10
_USD_PER_TRANSITION = 0.025 / 1000
_USD_PER_OBJECT: dict[str, float] = {
    # Lambda (4 steps) + endpoint share per object, plus per-GB for media that scales with size.
    "image": 0.00030,
    "video": 0.00400,
    "audio": 0.00150,
    "text": 0.00010,
    "document": 0.00050,
    UNSUPPORTED: 0.00002,
}
_USD_PER_GB: dict[str, float] = {"video": 0.20, "audio": 0.10}


def estimate_cost_usd(stale_by_modality: dict[str, int], stale_bytes_by_modality: dict[str, int]) -> dict[str, float]:
    """Rough USD cost of processing the stale objects, per modality and in total."""
    out: dict[str, float] = {}
    for modality, count in stale_by_modality.items():
        gigabytes = stale_bytes_by_modality.get(modality, 0) / 1024 ** 3
        out[modality] = round(
            count * (_USD_PER_OBJECT.get(modality, 0.0) + _TRANSITIONS_PER_OBJECT * _USD_PER_TRANSITION)
            + gigabytes * _USD_PER_GB.get(modality, 0.0), 4)
    out["total"] = round(sum(out.values()), 4)
    return out
