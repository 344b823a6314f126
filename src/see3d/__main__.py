import sys

from see3d.cli import main

sys.exit(main())
