//! The physical limit of a copier: a raw copy of one namespace's keys and
//! bytes between two stores, with nothing but the store's own operations
//! (scan a page, create the page in one batch, one after the other). A
//! migration moves the same bytes between the same stores and does more
//! besides (walk, check); it overlaps its reads with its writes, which the
//! raw copy does not, so it can come close to this throughput.

use serde::Serialize;

use crate::store::{StoreError, ValueStore};

/// What a raw copy moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RawCopy {
    /// Keys scanned from the source (and created in the destination).
    pub keys: u64,
    /// Bytes of those keys and values.
    pub bytes: u64,
    /// Bytes of the values alone (what a migration reports as bytes written).
    pub value_bytes: u64,
    /// Keys the destination already held (left untouched, as `create` does).
    pub already_present: u64,
    /// Write round trips (`create_many` calls).
    pub batches: u64,
}

/// Copies every key of `namespace` from `src` into `dst`: scans `page`
/// keys at a time, in key order, and creates each page with one
/// `create_many`. Into an empty destination the result holds exactly the
/// source's keys and bytes (see [`first_difference`]).
pub async fn raw_copy(
    src: &dyn ValueStore,
    dst: &dyn ValueStore,
    namespace: &str,
    page: usize,
) -> Result<RawCopy, StoreError> {
    let mut copy = RawCopy::default();
    let mut after: Option<String> = None;
    loop {
        let entries = src.scan(namespace, after.as_deref(), page.max(1)).await?;
        let Some((last, _)) = entries.last() else {
            break;
        };
        after = Some(last.clone());
        let outcomes = dst.create_many(namespace, &entries).await?;
        copy.batches += 1;
        copy.already_present += outcomes.iter().filter(|o| !o.created()).count() as u64;
        copy.keys += entries.len() as u64;
        for (key, value) in &entries {
            copy.bytes += (key.len() + value.len()) as u64;
            copy.value_bytes += value.len() as u64;
        }
    }
    Ok(copy)
}

/// Compares `namespace` in `a` and `b` key by key and byte by byte; the
/// first difference in words, or `None` when both hold exactly the same
/// keys and values.
pub async fn first_difference(
    a: &dyn ValueStore,
    b: &dyn ValueStore,
    namespace: &str,
    page: usize,
) -> Result<Option<String>, StoreError> {
    let page = page.max(1);
    let mut after: Option<String> = None;
    loop {
        let left = a.scan(namespace, after.as_deref(), page).await?;
        let right = b.scan(namespace, after.as_deref(), page).await?;
        for (l, r) in left.iter().zip(&right) {
            if l.0 != r.0 {
                let first = l.0.as_str().min(r.0.as_str());
                let side = if first == l.0 { a.url() } else { b.url() };
                return Ok(Some(format!("key `{first}` is only in {side}")));
            }
            if l.1 != r.1 {
                return Ok(Some(format!(
                    "key `{}` holds {} bytes in {} and {} different bytes in {}",
                    l.0,
                    l.1.len(),
                    a.url(),
                    r.1.len(),
                    b.url()
                )));
            }
        }
        if left.len() != right.len() {
            let (longer, extra) = if left.len() > right.len() {
                (a.url(), &left[right.len()].0)
            } else {
                (b.url(), &right[left.len()].0)
            };
            return Ok(Some(format!("key `{extra}` is only in {longer}")));
        }
        let Some((last, _)) = left.last() else {
            return Ok(None);
        };
        after = Some(last.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    async fn filled(n: usize) -> MemStore {
        let store = MemStore::open(None);
        let entries: Vec<_> = (0..n)
            .map(|i| (format!("k{i:04}"), vec![i as u8; i % 7 + 1]))
            .collect();
        store.create_many("ns", &entries).await.unwrap();
        store.create_many("other", &entries[..1]).await.unwrap();
        store
    }

    #[tokio::test]
    async fn copies_exactly_one_namespace() {
        let src = filled(1000).await;
        let dst = MemStore::open(None);
        let copy = raw_copy(&src, &dst, "ns", 64).await.unwrap();
        assert_eq!(copy.keys, 1000);
        assert_eq!(copy.batches, 16);
        assert_eq!(copy.already_present, 0);
        assert_eq!(first_difference(&src, &dst, "ns", 100).await.unwrap(), None);
        assert!(dst.scan("other", None, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn names_the_first_difference() {
        let src = filled(10).await;
        let dst = MemStore::open(None);
        raw_copy(&src, &dst, "ns", 3).await.unwrap();
        dst.create("ns", "k9999", b"x").await.unwrap();
        let diff = first_difference(&src, &dst, "ns", 4).await.unwrap();
        assert!(diff.unwrap().contains("k9999"));
        let fewer = MemStore::open(None);
        raw_copy(&src, &fewer, "ns", 3).await.unwrap();
        fewer.create("ns", "k0003a", b"x").await.unwrap();
        let diff = first_difference(&src, &fewer, "ns", 4).await.unwrap();
        assert!(diff.unwrap().contains("k0003a"));
    }
}
