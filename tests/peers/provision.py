"""Makes a pure-Python package importable for the tests, without touching
the machine's Python: installs it into a directory of its own under
cargo's target/ (given on the command line) the first time, and does
nothing once it is there.

    python3 provision.py DIR NAME VERSION SHA256 [NAME VERSION SHA256 ...] [--module M]

Several packages go into the one directory (a package and what it needs,
each pinned: nothing is resolved), and the check is that module M imports
(default: the first name, with _ for -).

First `pip install --target` (which follows the machine's pip settings:
index, proxy, certificates); where pip is missing, the wheel is fetched
from PyPI directly and checked against SHA256 (the wheel's published
digest, pinned by the caller). The directory appears whole or not at all
(built beside it, then renamed). Exit status 0 when the package imports
from DIR; 1, with what to do, when it could not be provisioned.
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile

args = sys.argv[1:]
module = None
if "--module" in args:
    i = args.index("--module")
    module = args[i + 1]
    del args[i : i + 2]
directory, rest = args[0], args[1:]
if not rest or len(rest) % 3:
    sys.exit("usage: provision.py DIR NAME VERSION SHA256 [NAME VERSION SHA256 ...] [--module M]")
packages = [tuple(rest[i : i + 3]) for i in range(0, len(rest), 3)]
module = module or packages[0][0].replace("-", "_")
name = " ".join(f"{n}=={v}" for n, v, _ in packages)


def importable(path):
    probe = f"import sys; sys.path.insert(0, {path!r}); import {module}"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


if importable(directory) and os.path.isdir(directory):
    sys.exit(0)

parent = os.path.dirname(os.path.abspath(directory))
os.makedirs(parent, exist_ok=True)
work = tempfile.mkdtemp(prefix=".provision-", dir=parent)
errors = []
try:
    # One pip call for all: pip --target skips a top-level directory that
    # is already there (namespace packages share one).
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
         "--target", work] + [f"{pkg}=={version}" for pkg, version, _ in packages],
        capture_output=True, text=True)
    if pip.returncode != 0:
        errors.append(f"pip install --target failed: {pip.stderr.strip()[-500:]}")
        for pkg, version, sha256 in packages:
            index_url = f"https://pypi.org/pypi/{pkg}/json"
            index = json.load(urllib.request.urlopen(index_url, timeout=60))
            wheels = [f for f in index["releases"].get(version, []) if f["filename"].endswith("-py3-none-any.whl")]
            if not wheels:
                raise RuntimeError(f"PyPI lists no pure-Python wheel of {pkg} {version}")
            # Mirrors answer with URLs relative to the index.
            url = urllib.parse.urljoin(index_url, wheels[0]["url"])
            data = urllib.request.urlopen(url, timeout=120).read()
            got = hashlib.sha256(data).hexdigest()
            if got != sha256:
                raise RuntimeError(f"{wheels[0]['filename']} has sha256 {got}, expected {sha256}")
            zipfile.ZipFile(io.BytesIO(data)).extractall(work)
    if not importable(work):
        raise RuntimeError(f"{module} does not import from {work} after installing it")
    try:
        os.rename(work, directory)
    except OSError:
        # Another run provisioned it meanwhile.
        if not importable(directory):
            raise
    work = None
except Exception as e:  # noqa: BLE001 - every failure is reported the same way
    errors.append(str(e))
    sys.stderr.write(
        f"could not provision {name} for the tests into {directory}:\n  "
        + "\n  ".join(errors)
        + f"\nThe tests need network access to PyPI once (or: python3 -m pip install --no-deps --target {directory} {name}).\n")
    sys.exit(1)
finally:
    if work:
        shutil.rmtree(work, ignore_errors=True)
