"""Run flywheel-migration's de-identification over a folder (benchmark driver; runs in the
venv where flywheel-migration is installed, never imported by deidc)."""

import os
import sys

from fs.osfs import OSFS

from flywheel_migration.deidentify import load_profile

profile = load_profile(sys.argv[1])
src, dst = OSFS(sys.argv[2]), OSFS(sys.argv[3])
for name in sorted(os.listdir(sys.argv[2])):
    profile.process_file(src, name, dst)
