# world: xform-plugin
"""{{name}}: an eva-admin plugin in Python (componentize-py). As generated
it returns every batch unchanged; edit the hooks below. The contract is
wit/xform.wit: records are dataclasses with snake_case fields, variants one
class per case (types.Content_IndexLeaf, types.Value_String, ...), and a
datom's `attribute` is its ident, e.g. ":person/email".
"""
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types


class Plugin(exports.Plugin):
    def describe(self):
        return types.Description(
            name="{{name}}",
            version="0.1.0",
            hooks=[types.Hook.READ, types.Hook.WRITE],
            wit_version="0.2.0",
        )

    def init(self, config):
        """The --plugin-config {{name}}:KEY=VALUE pairs; refuse unknown keys."""
        for key, _value in config:
            raise Err(types.XformError(message=f"{{name}}: unknown config key {key!r}"))

    def finish(self):
        """A short report, printed in the migration summary."""
        return ""


class ReadXform(exports.ReadXform):
    def transform_read(self, nodes):
        """Nodes as read from the source, before their children are fetched."""
        return nodes


class WriteXform(exports.WriteXform):
    def transform_write(self, nodes):
        """Nodes about to be written, children first; return one per input."""
        return nodes
