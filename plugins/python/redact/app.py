# world: tx-plugin
"""redact (rebuild mode): replaces every value of the configured attributes
by a keyed hash, so the data stays joinable (equal values give equal
hashes) but the original is gone from every index and the log.

Config: attributes=:a/b,:c/d (repeatable), key=SECRET (required). A string
or keyword value becomes the hex HMAC-SHA256 of its text under the key
(a keyword keeps its leading colon: ":" + hash); another type is refused.
Values move in AVET, so this needs `migrate --rebuild`.
"""
import hashlib

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

attributes = set()
secret = None
redacted = 0


def fail(message):
    return Err(types.XformError(message=message))


class Plugin(exports.Plugin):
    def describe(self):
        return types.Description(
            name="redact", version="0.1.0", hooks=[types.Hook.TX], wit_version="0.2.0"
        )

    def init(self, config):
        global secret
        for key, value in config:
            if key == "attributes":
                for ident in value.split(","):
                    if not ident.startswith(":"):
                        raise fail(f"redact: {ident!r} is not an ident (e.g. :person/email)")
                    attributes.add(ident)
            elif key == "key":
                secret = value.encode()
            else:
                raise fail(f"redact: unknown config key {key!r} (expected attributes, key)")
        if not attributes or not secret:
            raise fail("redact: needs attributes=:a/b and key=SECRET")

    def finish(self):
        return f"redact: {redacted} values replaced"


class TxXform(exports.TxXform):
    def transform_tx(self, tx):
        global redacted
        for d in tx.datoms:
            if d.attribute not in attributes:
                continue
            v = d.v
            if isinstance(v, types.Value_String):
                d.v = types.Value_String(value=digest(v.value))
            elif isinstance(v, types.Value_Keyword):
                d.v = types.Value_Keyword(value=":" + digest(v.value))
            else:
                raise fail(f"redact: {d.attribute} of entity {d.e} is not a string or keyword in transaction {tx.tx}")
            redacted += 1
        return tx


def digest(text):
    """HMAC-SHA256 (RFC 2104) of text under the key, in hex. Written out with
    hashlib: the hmac module needs `warnings`, which the guest's trimmed
    standard library lacks."""
    block = 64
    key = secret if len(secret) <= block else hashlib.sha256(secret).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + text.encode()).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()
