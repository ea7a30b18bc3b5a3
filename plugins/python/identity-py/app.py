# world: xform-plugin
"""identity-py: the identity guest in Python (componentize-py), a template
for Python guests. Exports both hooks and returns every batch unchanged.

Records arrive as dataclasses with snake_case fields, variants as one class
per case (types.Content_IndexLeaf, types.Value_String…); raise
Err(types.XformError(message=...)) to refuse a batch.
"""
from wit_world import exports
from wit_world.imports import types


class Plugin(exports.Plugin):
    def describe(self):
        return types.Description(
            name="identity-py",
            version="0.1.0",
            hooks=[types.Hook.READ, types.Hook.WRITE],
            wit_version="0.2.0",
        )

    def init(self, config):
        pass

    def finish(self):
        return ""


class ReadXform(exports.ReadXform):
    def transform_read(self, nodes):
        return nodes


class WriteXform(exports.WriteXform):
    def transform_write(self, nodes):
        return nodes
