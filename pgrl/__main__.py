import sys

from pgrl.cli import main

sys.exit(main())
