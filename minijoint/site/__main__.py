"""``python -m minijoint.site OUT``: build the course website into OUT."""
import sys

from . import site_main

sys.exit(site_main())
