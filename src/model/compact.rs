//! The compact encoding of a list of datoms sorted in one index's order,
//! for format 2's index leaves and tx-log entries (docs/format.md,
//! "Compact datom lists"). Each datom is written against the one before
//! it: the parts it shares with it (in the index's order) are left out,
//! the first part that differs is written as a difference from the
//! previous one, the rest as they are. Sorted neighbours share most of
//! their parts, so a datom takes a few bytes beside its value.
//!
//! The encoding is a function of the list, and decoding refuses any other
//! bytes for it (`NotCanonical`): equal lists have equal bytes, which
//! content-derived keys rely on. Unsorted lists encode too (a difference
//! wraps around), so encoding never fails; sorting is the rules' business.

use std::str::FromStr;

use bigdecimal::BigDecimal;
use num_bigint::BigInt;

use super::{Datom, Index, Value, ValueType};

/// Why bytes are not a compact datom list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    /// The bytes end inside a datom (or before the count).
    #[error("the bytes end inside datom {datom}")]
    Truncated {
        /// The datom being read (0-based).
        datom: usize,
    },
    /// A datom's bytes hold something no encoder writes.
    #[error("datom {datom}: {what}")]
    Invalid {
        /// The datom being read (0-based).
        datom: usize,
        /// What is wrong.
        what: String,
    },
    /// Bytes follow the last datom.
    #[error("{extra} bytes follow the last datom")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The datoms decode, but the encoder writes them differently.
    #[error("the datoms are not in their canonical encoding")]
    NotCanonical,
}

/// A datom's parts, in the order an index sorts them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    E,
    A,
    V,
    T,
}

fn parts(index: Index) -> [Part; 4] {
    use Part::*;
    match index {
        Index::Eavt => [E, A, V, T],
        Index::Aevt => [A, E, V, T],
        Index::Avet => [A, V, E, T],
        Index::Vaet => [V, A, E, T],
    }
}

fn same(part: Part, x: &Datom, y: &Datom) -> bool {
    match part {
        Part::E => x.e == y.e,
        Part::A => x.a == y.a,
        Part::V => x.v == y.v,
        Part::T => x.tx == y.tx,
    }
}

fn number(part: Part, d: &Datom) -> u64 {
    match part {
        Part::E => d.e,
        Part::A => d.a,
        Part::T => d.tx,
        Part::V => 0,
    }
}

/// The value type's tag: its position in [`ValueType::ALL`].
fn tag(v: &Value) -> u8 {
    v.value_type() as u8
}

const ADDED: u8 = 1 << 4;
/// The most datoms a decoder reserves room for before reading them.
const PREALLOCATED_DATOMS: usize = 4096;
const SHARED_SHIFT: u8 = 5;

/// Appends the encoding of `datoms`, in `index`'s order, to `out`.
pub fn encode_datoms(index: Index, datoms: &[Datom], out: &mut Vec<u8>) {
    let order = parts(index);
    put_varint(out, datoms.len() as u64);
    let mut prev: Option<&Datom> = None;
    for d in datoms {
        let shared = prev.map_or(0, |p| order.iter().take_while(|&&x| same(x, d, p)).count());
        let added = if d.added { ADDED } else { 0 };
        out.push(tag(&d.v) | added | (shared as u8) << SHARED_SHIFT);
        for (i, &part) in order.iter().enumerate().skip(shared) {
            let against = prev.filter(|_| i == shared);
            match (part, against) {
                (Part::V, Some(p)) if tag(&p.v) == tag(&d.v) => put_value_after(out, &p.v, &d.v),
                (Part::V, _) => put_value(out, &d.v),
                (_, Some(p)) => put_varint(out, number(part, d).wrapping_sub(number(part, p))),
                (_, None) => put_varint(out, number(part, d)),
            }
        }
        prev = Some(d);
    }
}

/// The datoms `bytes` encode in `index`'s order; all of `bytes` must be
/// the list, in its canonical encoding.
pub fn decode_datoms(index: Index, bytes: &[u8]) -> Result<Vec<Datom>, CompactError> {
    let mut reader = Reader { bytes, at: 0 };
    let datoms = read_datoms(index, &mut reader)?;
    if reader.at != bytes.len() {
        return Err(CompactError::TrailingBytes {
            extra: bytes.len() - reader.at,
        });
    }
    let mut again = Vec::with_capacity(bytes.len());
    encode_datoms(index, &datoms, &mut again);
    if again != bytes {
        return Err(CompactError::NotCanonical);
    }
    Ok(datoms)
}

fn read_datoms(index: Index, r: &mut Reader<'_>) -> Result<Vec<Datom>, CompactError> {
    let order = parts(index);
    let count = r.varint().ok_or(CompactError::Truncated { datom: 0 })?;
    // Every datom takes at least its flags byte: a count the bytes cannot
    // hold is refused before anything is allocated for it.
    if count > r.left() as u64 {
        return Err(CompactError::Truncated { datom: 0 });
    }
    // A datom takes far more memory than its encoding: reserve for a
    // leaf's worth, not for whatever the count claims.
    let mut datoms: Vec<Datom> = Vec::with_capacity((count as usize).min(PREALLOCATED_DATOMS));
    for i in 0..count as usize {
        let truncated = CompactError::Truncated { datom: i };
        let invalid = |what: String| CompactError::Invalid { datom: i, what };
        let flags = r.byte().ok_or(truncated.clone())?;
        let value_type = ValueType::ALL
            .get(usize::from(flags & 0x0f))
            .copied()
            .ok_or_else(|| invalid(format!("value type tag {}", flags & 0x0f)))?;
        let shared = usize::from(flags >> SHARED_SHIFT);
        let prev = datoms.last();
        if shared > 4 || (prev.is_none() && shared > 0) {
            return Err(invalid(format!("{shared} parts shared")));
        }
        let mut d = match prev {
            Some(p) => p.clone(),
            None => Datom {
                e: 0,
                a: 0,
                v: Value::Long(0),
                tx: 0,
                added: false,
            },
        };
        d.added = flags & ADDED != 0;
        for (j, &part) in order.iter().enumerate().skip(shared) {
            let against = prev.filter(|_| j == shared);
            match part {
                Part::V => {
                    d.v = match against {
                        Some(p) if p.v.value_type() == value_type => {
                            read_value_after(r, &p.v).map_err(|e| e.at(i))?
                        }
                        _ => read_value(r, value_type).map_err(|e| e.at(i))?,
                    }
                }
                _ => {
                    let n = r.varint().ok_or(truncated.clone())?;
                    let n = match against {
                        Some(p) => number(part, p).wrapping_add(n),
                        None => n,
                    };
                    match part {
                        Part::E => d.e = n,
                        Part::A => d.a = n,
                        _ => d.tx = n,
                    }
                }
            }
        }
        if d.v.value_type() != value_type {
            return Err(invalid(format!(
                "a {} value tagged {}",
                d.v.value_type(),
                value_type
            )));
        }
        datoms.push(d);
    }
    Ok(datoms)
}

/// Writes `v` whole (its type is in the flags byte).
fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Long(n) | Value::Instant(n) => put_varint(out, zigzag(*n)),
        Value::Ref(n) => put_varint(out, *n),
        Value::Double(x) => out.extend_from_slice(&x.to_bits().to_le_bytes()),
        Value::Boolean(b) => out.push(u8::from(*b)),
        Value::String(s) | Value::Keyword(s) => put_bytes(out, s.as_bytes()),
        Value::Bytes(b) => put_bytes(out, b),
        Value::Uuid(u) => out.extend_from_slice(u.as_bytes()),
        Value::BigInt(n) => put_bytes(out, &n.to_signed_bytes_le()),
        Value::BigDec(d) => put_bytes(out, d.to_string().as_bytes()),
    }
}

/// Writes `v` against `prev`, a value of the same type it follows: numbers
/// as the difference, text and bytes as the length of the prefix they
/// share and the rest; other types whole.
fn put_value_after(out: &mut Vec<u8>, prev: &Value, v: &Value) {
    match (prev, v) {
        (Value::Long(p), Value::Long(n)) | (Value::Instant(p), Value::Instant(n)) => {
            put_varint(out, (*n as u64).wrapping_sub(*p as u64));
        }
        (Value::Ref(p), Value::Ref(n)) => put_varint(out, n.wrapping_sub(*p)),
        (Value::String(p), Value::String(s)) | (Value::Keyword(p), Value::Keyword(s)) => {
            put_suffix(out, p.as_bytes(), s.as_bytes());
        }
        (Value::Bytes(p), Value::Bytes(b)) => put_suffix(out, p, b),
        _ => put_value(out, v),
    }
}

fn put_suffix(out: &mut Vec<u8>, prev: &[u8], bytes: &[u8]) {
    let shared = prev.iter().zip(bytes).take_while(|(x, y)| x == y).count();
    put_varint(out, shared as u64);
    put_bytes(out, &bytes[shared..]);
}

/// Why a value could not be read (the datom is added by the caller).
enum ValueError {
    Truncated,
    Invalid(String),
}

impl ValueError {
    fn at(self, datom: usize) -> CompactError {
        match self {
            ValueError::Truncated => CompactError::Truncated { datom },
            ValueError::Invalid(what) => CompactError::Invalid { datom, what },
        }
    }
}

fn read_value(r: &mut Reader<'_>, t: ValueType) -> Result<Value, ValueError> {
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes).map_err(|_| ValueError::Invalid("text that is not UTF-8".into()))
    };
    Ok(match t {
        ValueType::Long => Value::Long(unzigzag(r.varint().ok_or(ValueError::Truncated)?)),
        ValueType::Instant => Value::Instant(unzigzag(r.varint().ok_or(ValueError::Truncated)?)),
        ValueType::Ref => Value::Ref(r.varint().ok_or(ValueError::Truncated)?),
        ValueType::Double => {
            let raw = r.array::<8>().ok_or(ValueError::Truncated)?;
            Value::Double(f64::from_bits(u64::from_le_bytes(raw)))
        }
        ValueType::Boolean => match r.byte().ok_or(ValueError::Truncated)? {
            0 => Value::Boolean(false),
            1 => Value::Boolean(true),
            b => return Err(ValueError::Invalid(format!("boolean byte {b}"))),
        },
        ValueType::String => Value::String(text(r.bytes()?)?),
        ValueType::Keyword => Value::Keyword(text(r.bytes()?)?),
        ValueType::Bytes => Value::Bytes(r.bytes()?),
        ValueType::Uuid => Value::Uuid(uuid::Uuid::from_bytes(
            r.array::<16>().ok_or(ValueError::Truncated)?,
        )),
        ValueType::BigInt => Value::BigInt(BigInt::from_signed_bytes_le(&r.bytes()?)),
        ValueType::BigDec => {
            let s = text(r.bytes()?)?;
            let d = BigDecimal::from_str(&s)
                .map_err(|e| ValueError::Invalid(format!("bigdec `{s}`: {e}")))?;
            Value::bigdec(d)
        }
    })
}

fn read_value_after(r: &mut Reader<'_>, prev: &Value) -> Result<Value, ValueError> {
    let delta = |r: &mut Reader<'_>| r.varint().ok_or(ValueError::Truncated);
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes).map_err(|_| ValueError::Invalid("text that is not UTF-8".into()))
    };
    Ok(match prev {
        Value::Long(p) => Value::Long((*p as u64).wrapping_add(delta(r)?) as i64),
        Value::Instant(p) => Value::Instant((*p as u64).wrapping_add(delta(r)?) as i64),
        Value::Ref(p) => Value::Ref(p.wrapping_add(delta(r)?)),
        Value::String(p) => Value::String(text(r.suffix_of(p.as_bytes())?)?),
        Value::Keyword(p) => Value::Keyword(text(r.suffix_of(p.as_bytes())?)?),
        Value::Bytes(p) => Value::Bytes(r.suffix_of(p)?),
        other => read_value(r, other.value_type())?,
    })
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// LEB128, 7 bits a byte, low bits first.
fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

/// A cursor over the encoded bytes.
struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let raw = self.bytes.get(self.at..self.at + N)?;
        self.at += N;
        raw.try_into().ok()
    }

    /// A varint of at most 10 bytes whose value fits 64 bits (longer or
    /// overflowing forms are not the encoder's: the canonical check refuses
    /// any other redundancy).
    fn varint(&mut self) -> Option<u64> {
        let mut n: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    /// A length-prefixed byte string that the remaining bytes hold.
    fn bytes(&mut self) -> Result<Vec<u8>, ValueError> {
        let len = self.varint().ok_or(ValueError::Truncated)?;
        let len = usize::try_from(len).map_err(|_| ValueError::Truncated)?;
        if len > self.left() {
            return Err(ValueError::Truncated);
        }
        let out = self.bytes[self.at..self.at + len].to_vec();
        self.at += len;
        Ok(out)
    }

    /// A prefix length of `prev` and the bytes that follow it.
    fn suffix_of(&mut self, prev: &[u8]) -> Result<Vec<u8>, ValueError> {
        let shared = self.varint().ok_or(ValueError::Truncated)?;
        let shared = usize::try_from(shared)
            .ok()
            .filter(|n| *n <= prev.len())
            .ok_or_else(|| {
                ValueError::Invalid(format!("a prefix of {shared} bytes of a shorter value"))
            })?;
        let rest = self.bytes()?;
        let mut out = Vec::with_capacity(shared + rest.len());
        out.extend_from_slice(&prev[..shared]);
        out.extend_from_slice(&rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
