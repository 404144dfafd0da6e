"""The seeds' Django project, reduced to what its pipeline calls: ``collectstatic`` copies
``static/`` to ``STATIC_ROOT``, which the team's settings put at static_root/<STATIC_VERSION>."""

import os
import shutil
import sys

if sys.argv[1:2] != ["collectstatic"]:
    sys.exit("usage: manage.py collectstatic --noinput")
root = os.path.join("static_root", os.environ["STATIC_VERSION"])
shutil.copytree("static", root)
count = sum(len(files) for _, _, files in os.walk(root))
print(f"{count} static files copied to '{os.path.abspath(root)}'.")
