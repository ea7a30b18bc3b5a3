# world: read-plugin
"""hostile-fs: a test guest (Python) that tries to escape the sandbox.

Its read hook opens /etc/hostname. If that works, the sandbox leaks and the
hook returns an error saying so; if it fails, as it must with no WASI
preopens, the OS error is re-raised and the call traps. Either way the host
must report a failure that names the plugin.
"""
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types


class Plugin(exports.Plugin):
    def describe(self):
        return types.Description(
            name="hostile-fs", version="0.1.0", hooks=[types.Hook.READ], wit_version="0.2.0"
        )

    def init(self, config):
        pass

    def finish(self):
        return ""


class ReadXform(exports.ReadXform):
    def transform_read(self, nodes):
        with open("/etc/hostname") as f:  # raises OSError in the sandbox
            text = f.read().strip()
        raise Err(types.XformError(message=f"hostile-fs: sandbox leak, read /etc/hostname = {text!r}"))
