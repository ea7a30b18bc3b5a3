# world: read-plugin
"""hostile-sleep: a test guest (Python) whose read hook sleeps for 30 s.

time.sleep becomes a blocking WASI call (a monotonic-clock pollable), which
no epoch deadline interrupts by itself: the host must still stop the call
at --plugin-timeout and report a timeout naming the plugin.
"""
import time

from wit_world import exports
from wit_world.imports import types


class Plugin(exports.Plugin):
    def describe(self):
        return types.Description(
            name="hostile-sleep", version="0.1.0", hooks=[types.Hook.READ], wit_version="0.2.0"
        )

    def init(self, config):
        pass

    def finish(self):
        return ""


class ReadXform(exports.ReadXform):
    def transform_read(self, nodes):
        time.sleep(30)
        return nodes
