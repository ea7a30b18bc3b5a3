// world: tx-plugin
// drop-attribute (rebuild mode): removes attributes entirely — every datom
// of them, and their definition (all datoms of the attribute's entity in
// the transaction that installs it, recognised by its :db/ident).
// Config: attributes=:a/b,:c/d (repeatable).

const dropped = new Set();
let removed = 0;

export const plugin = {
  describe() {
    return { name: "drop-attribute", version: "0.1.0", hooks: ["tx"], witVersion: "0.2.0" };
  },
  init(config) {
    for (const [key, value] of config) {
      if (key !== "attributes") {
        throw { message: `drop-attribute: unknown config key ${key} (expected attributes)` };
      }
      for (const ident of value.split(",")) {
        if (!ident.startsWith(":")) {
          throw { message: `drop-attribute: ${ident} is not an ident (e.g. :person/email)` };
        }
        dropped.add(ident);
      }
    }
    if (dropped.size === 0) {
      throw { message: "drop-attribute: needs attributes=:a/b" };
    }
  },
  finish() {
    return `drop-attribute: ${removed} datoms removed`;
  },
};

export const txXform = {
  transformTx(tx) {
    // Entities of this transaction that are a dropped attribute's definition.
    const definitions = new Set();
    for (const d of tx.datoms) {
      if (d.attribute === ":db/ident" && d.v.tag === "keyword" && dropped.has(d.v.val)) {
        definitions.add(d.e);
      }
    }
    const kept = tx.datoms.filter((d) => !dropped.has(d.attribute) && !definitions.has(d.e));
    removed += tx.datoms.length - kept.length;
    return { tx: tx.tx, instant: tx.instant, datoms: kept };
  },
};
