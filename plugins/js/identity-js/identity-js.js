// world: xform-plugin
// identity-js: the identity guest in JavaScript (componentize-js), a
// template for JS guests. Exports both hooks and returns every batch
// unchanged. Records arrive as objects with camelCase fields, variants as
// { tag, val }, enums as strings; throw to return an xform-error.

export const plugin = {
  describe() {
    return { name: "identity-js", version: "0.1.0", hooks: ["read", "write"], witVersion: "0.2.0" };
  },
  init(_config) {},
  finish() {
    return "";
  },
};

export const readXform = {
  transformRead(nodes) {
    return nodes;
  },
};

export const writeXform = {
  transformWrite(nodes) {
    return nodes;
  },
};
