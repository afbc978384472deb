"""The mock's configuration: :class:`Settings`, one frozen, typed record of every setting
with its default (:mod:`.settings`), and the rules that name, convert and check each one
(:mod:`.rules`)."""

from mock_server.config.rules import (
    ENV_PREFIX,
    MAX_SECONDS,
    SettingError,
    env_name,
    flag_name,
    key_name,
    kind,
)
from mock_server.config.settings import Settings, setting_names

__all__ = [
    "ENV_PREFIX",
    "MAX_SECONDS",
    "SettingError",
    "Settings",
    "env_name",
    "flag_name",
    "key_name",
    "kind",
    "setting_names",
]
