# world: read-plugin
"""audit: an example read-xform in Python (componentize-py).

Counts the string and keyword values, in index leaves and tx-log entries,
that match each `pattern=<regex>` given in the config (re.search; the
option may be repeated). Nodes pass through unchanged. `finish` returns the
counts as JSON text, pattern -> number of matching datom values seen (a fact
is counted once per index leaf and tx-log entry that holds it).
"""
import json
import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

patterns = {}  # pattern text -> compiled regex, in config order
counts = {}  # pattern text -> matches


def fail(message):
    return Err(types.XformError(message=message))


class Plugin(exports.Plugin):
    def describe(self):
        return types.Description(
            name="audit", version="0.1.0", hooks=[types.Hook.READ], wit_version="0.2.0"
        )

    def init(self, config):
        for key, value in config:
            if key != "pattern":
                raise fail(f"audit: unknown config key {key!r} (expected pattern)")
            try:
                patterns[value] = re.compile(value)
            except re.error as e:
                raise fail(f"audit: bad pattern {value!r}: {e}")
            counts[value] = 0

    def finish(self):
        return json.dumps(counts)


class ReadXform(exports.ReadXform):
    def transform_read(self, nodes):
        for node in nodes:
            c = node.content
            if isinstance(c, (types.Content_IndexLeaf, types.Content_TxLogEntry)):
                for d in c.value.datoms:
                    if isinstance(d.v, (types.Value_String, types.Value_Keyword)):
                        for text, regex in patterns.items():
                            if regex.search(d.v.value):
                                counts[text] += 1
        return nodes
