"""Where SIGMAX finds its configuration folder and where it keeps its files.

``SIGMAX_HOME`` (default: the current directory) holds the working files: ``.env``, ``logs/``,
the SQLite database ``sigmax.db`` and ``backups/``. The configuration folder holds the YAML
files and is looked up in this order:

1. ``SIGMAX_CONFIG_DIR`` (or an explicit ``config_dir``), which must exist;
2. ``SIGMAX_HOME/config``;
3. ``./config``;
4. the copy packaged in the wheel (``sigmax/_bundled_config``);
5. the source checkout's ``config/`` (editable installs).

Candidates 2 and 3 count only when they hold at least one SIGMAX configuration file, so an
unrelated ``config`` folder in the working directory is not mistaken for ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CONFIG_FILE_NAME = "config.yaml"
SAFETY_FILE_NAME = "safety.yaml"
AGENTS_FILE_NAME = "agents.yaml"
PROFILES_DIR_NAME = "profiles"
DOTENV_FILE_NAME = ".env"
LOGS_DIR_NAME = "logs"
LOG_FILE_NAME = "sigmax.log"
DATABASE_FILE_NAME = "sigmax.db"
BACKUPS_DIR_NAME = "backups"

_MARKERS = (CONFIG_FILE_NAME, SAFETY_FILE_NAME, AGENTS_FILE_NAME, PROFILES_DIR_NAME)


@dataclass(frozen=True, slots=True)
class ConfigDirChoice:
    """The configuration folder in use and why it was chosen."""

    path: Path
    reason: str


def bundled_config_dir() -> Path | None:
    """The configuration packaged inside an installed wheel, if there is one on disk."""
    candidate = resources.files("sigmax") / "_bundled_config"
    # Only a real directory can be read with pathlib; a zipped install has none.
    if isinstance(candidate, Path) and candidate.is_dir():
        return candidate
    return None


def source_config_dir() -> Path:
    """``config/`` of the source checkout (src/sigmax/config/paths.py -> repo root)."""
    return Path(__file__).resolve().parents[3] / "config"


def _looks_like_config_dir(path: Path) -> bool:
    return path.is_dir() and any((path / marker).exists() for marker in _MARKERS)


def discover_config_dir(home: Path, cwd: Path | None = None) -> ConfigDirChoice | None:
    """The first usable configuration folder after ``SIGMAX_CONFIG_DIR`` (steps 2-5)."""
    working = Path.cwd() if cwd is None else cwd
    candidates: list[tuple[Path | None, str]] = [
        (home / "config", "SIGMAX_HOME/config"),
        (working / "config", "./config"),
        (bundled_config_dir(), "packaged copy"),
        (source_config_dir(), "source checkout"),
    ]
    for path, reason in candidates:
        if path is not None and _looks_like_config_dir(path):
            return ConfigDirChoice(path.resolve(), reason)
    return None


def profile_file(config_dir: Path, profile: str) -> Path:
    return config_dir / PROFILES_DIR_NAME / f"{profile}.yaml"


def available_profiles(config_dir: Path) -> list[str]:
    """Names of the profile files in ``config_dir/profiles``, sorted."""
    folder = config_dir / PROFILES_DIR_NAME
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file())
