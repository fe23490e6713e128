import sys

# `serve` and `search` go straight to their modules (a search answered by the running service
# should not wait for the pipeline's imports; each has its own parser and --help); everything
# else is local.run's parser (`python -m local --help`, `python -m local run --help`).
if sys.argv[1:2] == ["serve"]:
    from local.serve import main as serve_main

    sys.exit(serve_main(sys.argv[2:]))
if sys.argv[1:2] == ["search"]:
    from local.search import main as search_main

    sys.exit(search_main(sys.argv[2:]))

if sys.argv[1:2] in (["similar"], ["relabel"]):
    from local.taxonomy import relabel_main, similar_main

    sys.exit((similar_main if sys.argv[1] == "similar" else relabel_main)(sys.argv[2:]))

from local.run import main

sys.exit(main(sys.argv[1:]))
