"""The engine package does not import the faces (the API, the Telegram bot)."""

from __future__ import annotations

import subprocess
import sys


def test_engine_modules_import_neither_the_api_nor_the_bot() -> None:
    code = (
        "import sys\n"
        "import sigmax.engine.runner, sigmax.engine.kernel, sigmax.engine.preflight\n"
        "import sigmax.engine.engine, sigmax.engine.trader, sigmax.engine.offline\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('sigmax.api', 'sigmax.telegram')))\n"
        "print(','.join(bad))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == ""


def test_the_faces_are_started_beside_the_engine_from_the_app_package() -> None:
    code = "import sys, sigmax.app.beside; print('sigmax.api' in sys.modules)"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "True"  # the check above can see an import of the API
