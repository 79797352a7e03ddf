import sys

from p2m.cli import main

sys.exit(main())
