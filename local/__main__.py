import sys

from local.run import main

sys.exit(main(sys.argv[1:]))
