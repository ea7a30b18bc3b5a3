// world: xform-plugin
// {{name}}: an eva-admin plugin in JavaScript (componentize-js). As
// generated it returns every batch unchanged; edit the hooks below. The
// contract is wit/xform.wit: records are objects with camelCase fields,
// variants { tag, val }, enums strings, and a datom's `attribute` is its
// ident, e.g. ":person/email". Throw to refuse a batch.

export const plugin = {
  describe() {
    return { name: "{{name}}", version: "0.1.0", hooks: ["read", "write"], witVersion: "0.2.0" };
  },
  // The --plugin-config {{name}}:KEY=VALUE pairs; refuse unknown keys.
  init(config) {
    for (const [key] of config) {
      throw { message: `{{name}}: unknown config key ${key}` };
    }
  },
  // A short report, printed in the migration summary.
  finish() {
    return "";
  },
};

export const readXform = {
  // Nodes as read from the source, before their children are fetched.
  transformRead(nodes) {
    return nodes;
  },
};

export const writeXform = {
  // Nodes about to be written, children first; return one per input.
  transformWrite(nodes) {
    return nodes;
  },
};
