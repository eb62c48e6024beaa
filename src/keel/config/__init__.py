"""Project configuration: ``keel.toml`` at the project root, overridden by ``KEEL_*`` variables."""

from keel.config._config import Config as Config
from keel.config._config import find_root as find_root
from keel.config._config import init_project as init_project
from keel.config._config import load_config as load_config

__all__ = ["Config", "find_root", "init_project", "load_config"]
