import sys

from hpt_core.cli import main

sys.exit(main())
