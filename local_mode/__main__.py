import sys

from local_mode.flow import main

sys.exit(main())
