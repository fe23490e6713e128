"""`python -m local similar` and `python -m local relabel`: more like this, recommendations and
retroactive taxonomy labels over what the local runs stored (functions/search/similar.py,
functions/taxonomy/relabel.py: the code the deployed search and relabel functions run).

    python -m local similar KEY [--limit 10] [--diversity 0.3]
    python -m local similar --liked KEY [--liked KEY ...] [--disliked KEY ...]
    python -m local relabel [--taxonomy FILE] [--dry-run]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _connect(work: Path) -> Any:
    from functions.common.db import DbConfig, open_connection
    from local.results import start_postgres

    if not (work / "pg").is_dir():
        raise RuntimeError(f"no database in {work / 'pg'}: run `python -m local run` first")
    return open_connection(DbConfig.from_env(start_postgres(work, fresh=False)))


def similar_main(argv: list[str]) -> int:
    from local.results import WORK
    from local.run import BUCKETS

    parser = argparse.ArgumentParser(prog="python -m local similar",
                                     description="Objects most like one object, or recommended from a history.")
    parser.add_argument("key", nargs="?", help="the object key to find more like (in the local ingest bucket)")
    parser.add_argument("--liked", action="append", default=[], metavar="KEY", help="an object the user liked (repeatable)")
    parser.add_argument("--disliked", action="append", default=[], metavar="KEY", help="an object the user disliked")
    parser.add_argument("--limit", type=int, default=10, help="how many objects (default 10)")
    parser.add_argument("--diversity", type=float, default=0.3, help="0 = nearest only, 1 = as varied as possible")
    parser.add_argument("--work", type=Path, default=WORK, help="the local run's folder (default .local-run)")
    args = parser.parse_args(argv)
    if bool(args.key) == bool(args.liked):
        parser.error("give either KEY or --liked (with optional --disliked)")
    from functions.search.similar import ObjectKey, UnknownObject, recommend, similar_to

    bucket = BUCKETS["ingest"]
    try:
        with _connect(args.work) as conn:
            if args.key:
                hits = similar_to(conn, ObjectKey(bucket, args.key), args.limit, diversity=args.diversity)
            else:
                hits = recommend(conn, [ObjectKey(bucket, k) for k in args.liked],
                                 [ObjectKey(bucket, k) for k in args.disliked], args.limit, diversity=args.diversity)
    except (RuntimeError, ValueError, UnknownObject) as exc:
        print(f"similar: {exc}", file=sys.stderr)
        return 1
    if not hits:
        print("no similar objects: nothing else stored has a vector in the same space")
        return 1
    for rank, h in enumerate(hits, start=1):
        print(f"{rank:>2}. {h.key}  ({h.modality}; similarity {h.similarity:.3f}; {h.role})")
    return 0


def relabel_main(argv: list[str]) -> int:
    from local.results import WORK

    parser = argparse.ArgumentParser(prog="python -m local relabel",
                                     description="Label every stored object with a taxonomy from its stored vectors.")
    parser.add_argument("--taxonomy", type=Path, help="a taxonomy JSON file (default taxonomies/iab_content_tier1.json)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be relabelled; write nothing")
    parser.add_argument("--work", type=Path, default=WORK, help="the local run's folder (default .local-run)")
    args = parser.parse_args(argv)
    from functions.common.constants import MODEL_IMAGE_EMBEDDING, MODEL_TEXT_EMBEDDING
    from functions.common.model_client import ModelClient
    from functions.taxonomy.relabel import relabel
    from functions.taxonomy.taxonomy import load_taxonomy
    from local.model_servers import start_local_profile

    try:
        taxonomy = load_taxonomy(args.taxonomy)
        with _connect(args.work) as conn:
            if args.dry_run:
                result = relabel(conn, None, taxonomy, dry_run=True)
            else:
                with start_local_profile(roles=[MODEL_TEXT_EMBEDDING, MODEL_IMAGE_EMBEDDING]) as profile:
                    client = ModelClient(profile.endpoints, components=profile.components,
                                         sagemaker_client=profile.client())
                    result = relabel(conn, client, taxonomy)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"relabel: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=1))
    return 0
