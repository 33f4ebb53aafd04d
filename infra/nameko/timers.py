"""A nameko timer whose interval is a config setting.

nameko builds entrypoints at import time, before any config is known, so the
interval is read from the container's config in `setup()` (as the scaler's
PollTimer does with its own key).
"""
from nameko.timer import Timer

from infra.config.schema import read


class SettingTimer(Timer):
    """`@SettingTimer.decorator(SECTION, "key")`: fires every SECTION.key seconds."""

    def __init__(self, section, key, **kwargs):
        super().__init__(interval=None, **kwargs)
        self.section, self.key = section, key

    def setup(self):
        self.interval = read(self.container.config, self.section)[self.key]
