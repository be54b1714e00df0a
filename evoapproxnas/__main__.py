import sys

from evoapproxnas.cli import main

sys.exit(main())
