//! The remote state an update plans from: what the last successful update left on the remote.
//! It is recorded in the database (a header and one row per ref, `store::mirror_status`), and
//! this node keeps a bounded copy of recent states, so an update whose state no one has
//! written since reads only the header row, not every ref.
//!
//! **Invariant:** a cached copy is used only when the database's header carries the generation
//! it was cached with. Every write draws a new generation, and forgetting a state (a failed
//! update, a URL or credential change) deletes the header. So a copy is never trusted after
//! another node's write, a `forget`, or a change of URL or credentials.
//!
//! An update *takes* its mirror's copy out of the cache and puts the new state back after it
//! is saved. An update that fails or is cancelled leaves nothing behind to be trusted.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::model::entities::Millis;
use crate::store::{RemoteRefChanges, Store, StoreError};

/// Most refs the cache holds across all mirrors. At about 130 bytes a ref (a name, a hex oid and
/// their two `String`s), that is about 32 MB: two repositories the size of the bench's
/// (100,000 refs) and many small ones. Reading a state again costs one query of tens of
/// milliseconds at that size, so a smaller node loses little when states are evicted.
pub(super) const MAX_CACHED_REFS: usize = 250_000;

/// A recorded remote state as an update holds it.
#[derive(Debug)]
pub(super) struct RecordedState {
    /// The header's generation this state is, for the compare-and-set of the next write.
    pub generation: i64,
    /// When it was taken.
    pub taken_at: Millis,
    /// The remote's branches and tags as `(full name, oid)`, sorted by name, each name once.
    pub refs: Vec<(String, String)>,
}

/// This node's copies of recorded remote states, least recently written evicted first.
pub(super) struct RemoteStateCache {
    inner: Mutex<Cache>,
}

struct Cache {
    entries: HashMap<i64, Entry>,
    /// The mirror ids by when their entry was put, oldest first, for eviction.
    by_age: BTreeMap<u64, i64>,
    /// The next put's stamp.
    next_stamp: u64,
    /// Sum of the entries' costs ([`cost`]).
    cost: usize,
    /// The most the costs may sum to.
    max_cost: usize,
}

struct Entry {
    generation: i64,
    refs: Vec<(String, String)>,
    stamp: u64,
}

/// What an entry counts against the bound: its refs, plus one so empty states count too.
fn cost(refs: &[(String, String)]) -> usize {
    refs.len() + 1
}

impl RemoteStateCache {
    /// An empty cache holding at most `max_refs` refs (see [`MAX_CACHED_REFS`]).
    pub(super) fn new(max_refs: usize) -> RemoteStateCache {
        RemoteStateCache {
            inner: Mutex::new(Cache {
                entries: HashMap::new(),
                by_age: BTreeMap::new(),
                next_stamp: 0,
                cost: 0,
                max_cost: max_refs,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache is only ever left consistent, so a panic elsewhere cannot poison its data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes `mirror_id`'s copy and returns it if it is of `generation`; a copy of another
    /// generation is dropped.
    fn take(&self, mirror_id: i64, generation: i64) -> Option<Vec<(String, String)>> {
        let entry = self.lock().remove(mirror_id)?;
        (entry.generation == generation).then_some(entry.refs)
    }

    /// Keeps `refs` as `mirror_id`'s state of `generation`, evicting the oldest entries beyond
    /// the bound. A state larger than the whole bound is not kept.
    fn put(&self, mirror_id: i64, generation: i64, refs: Vec<(String, String)>) {
        let mut cache = self.lock();
        cache.remove(mirror_id);
        if cost(&refs) > cache.max_cost {
            return;
        }
        while cache.cost + cost(&refs) > cache.max_cost {
            let Some((_, oldest)) = cache.by_age.pop_first() else {
                break;
            };
            cache.remove(oldest);
        }
        let stamp = cache.next_stamp;
        cache.next_stamp += 1;
        cache.cost += cost(&refs);
        cache.by_age.insert(stamp, mirror_id);
        cache.entries.insert(
            mirror_id,
            Entry {
                generation,
                refs,
                stamp,
            },
        );
    }

    /// Drops `mirror_id`'s copy, if any.
    fn forget(&self, mirror_id: i64) {
        self.lock().remove(mirror_id);
    }

    /// How many refs the cache holds (for tests).
    #[cfg(test)]
    fn cached_refs(&self) -> usize {
        let cache = self.lock();
        cache.entries.values().map(|e| e.refs.len()).sum()
    }
}

impl Cache {
    fn remove(&mut self, mirror_id: i64) -> Option<Entry> {
        let entry = self.entries.remove(&mirror_id)?;
        self.by_age.remove(&entry.stamp);
        self.cost -= cost(&entry.refs);
        Some(entry)
    }
}

/// The state the last successful update to `url` recorded, from this node's copy when the
/// header says it is current, else from the database. The copy leaves the cache: the caller
/// owns the state until it [`save`]s the next one.
pub(super) async fn load(
    store: &Store,
    cache: &RemoteStateCache,
    mirror_id: i64,
    url: &str,
) -> Result<Option<RecordedState>, StoreError> {
    let Some(header) = store.remote_state_header(mirror_id, url).await? else {
        cache.forget(mirror_id);
        return Ok(None);
    };
    if let Some(refs) = cache.take(mirror_id, header.generation) {
        return Ok(Some(RecordedState {
            generation: header.generation,
            taken_at: header.taken_at,
            refs,
        }));
    }
    Ok(store
        .remote_state(mirror_id, url)
        .await?
        .map(|(header, refs)| RecordedState {
            generation: header.generation,
            taken_at: header.taken_at,
            refs,
        }))
}

/// What one update records: the remote's refs now, and how they differ from the recorded
/// generation they replace.
pub(super) struct NewState<'a> {
    /// The recorded generation the changes apply to; `None` when none was recorded.
    pub base: Option<i64>,
    /// The refs that differ from `base` (every ref when `base` is `None`).
    pub changes: &'a RemoteRefChanges,
    /// The remote's refs after the update, sorted by name, each name once.
    pub refs: Vec<(String, String)>,
    /// The digest of the hosted repository's refs the update pushed from.
    pub source_digest: &'a str,
}

/// Records `state` for the next update, writing only its changes, and keeps it in the cache.
/// False, with nothing written, when the recorded state is no longer `state.base`: someone
/// forgot or wrote it meanwhile, and the caller should forget it.
pub(super) async fn save(
    store: &Store,
    cache: &RemoteStateCache,
    mirror_id: i64,
    url: &str,
    state: NewState<'_>,
    now: Millis,
) -> Result<bool, StoreError> {
    let written = store
        .save_remote_state(
            mirror_id,
            url,
            state.base,
            state.changes,
            state.source_digest,
            now,
        )
        .await?;
    match written {
        Some(generation) => {
            cache.put(mirror_id, generation, state.refs);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Forgets the recorded state, here and in the database: the remote's state is unknown.
pub(super) async fn forget(
    store: &Store,
    cache: &RemoteStateCache,
    mirror_id: i64,
) -> Result<(), StoreError> {
    cache.forget(mirror_id);
    store.forget_remote_state(mirror_id).await
}

/// The changes that turn `old` into `new`, both sorted by name with each name once.
pub(super) fn changes_between(
    old: &[(String, String)],
    new: &[(String, String)],
) -> RemoteRefChanges {
    let mut changes = RemoteRefChanges::new();
    let (mut o, mut n) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (o.peek(), n.peek()) {
            (Some((on, oo)), Some((nn, no))) => match on.cmp(nn) {
                std::cmp::Ordering::Less => {
                    changes.insert(on.clone(), None);
                    o.next();
                }
                std::cmp::Ordering::Greater => {
                    changes.insert(nn.clone(), Some(no.clone()));
                    n.next();
                }
                std::cmp::Ordering::Equal => {
                    if oo != no {
                        changes.insert(nn.clone(), Some(no.clone()));
                    }
                    o.next();
                    n.next();
                }
            },
            (Some((on, _)), None) => {
                changes.insert(on.clone(), None);
                o.next();
            }
            (None, Some((nn, no))) => {
                changes.insert(nn.clone(), Some(no.clone()));
                n.next();
            }
            (None, None) => return changes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, o)| (n.to_string(), o.to_string()))
            .collect()
    }

    #[test]
    fn a_copy_is_returned_only_for_its_generation_and_only_once() {
        let cache = RemoteStateCache::new(100);
        cache.put(1, 7, refs(&[("refs/heads/main", "a")]));
        assert_eq!(cache.take(1, 8), None, "another generation");
        assert_eq!(cache.take(1, 7), None, "dropped by the mismatch");
        cache.put(1, 7, refs(&[("refs/heads/main", "a")]));
        assert_eq!(cache.take(1, 7), Some(refs(&[("refs/heads/main", "a")])));
        assert_eq!(cache.take(1, 7), None, "taken");
        cache.put(2, 1, Vec::new());
        cache.forget(2);
        assert_eq!(cache.take(2, 1), None, "forgotten");
    }

    #[test]
    fn the_bound_evicts_the_oldest_and_refuses_what_cannot_fit() {
        let three = refs(&[("a", "1"), ("b", "2"), ("c", "3")]);
        // Each entry of three refs costs four.
        let cache = RemoteStateCache::new(8);
        cache.put(1, 1, three.clone());
        cache.put(2, 1, three.clone());
        assert_eq!(cache.cached_refs(), 6);
        cache.put(3, 1, three.clone());
        assert_eq!(cache.cached_refs(), 6);
        assert_eq!(cache.take(1, 1), None, "the oldest went");
        assert!(cache.take(2, 1).is_some());
        assert!(cache.take(3, 1).is_some());
        let nine: Vec<_> = (0..9).map(|i| (i.to_string(), "x".to_owned())).collect();
        cache.put(4, 1, three.clone());
        cache.put(5, 1, nine);
        assert_eq!(cache.take(5, 1), None, "larger than the bound");
        assert!(cache.take(4, 1).is_some(), "not evicted for it");
        assert_eq!(cache.cached_refs(), 0);
    }

    #[test]
    fn changes_between_lists_creates_moves_and_deletes() {
        let old = refs(&[("a", "1"), ("b", "2"), ("d", "4"), ("e", "5")]);
        let new = refs(&[("b", "2"), ("c", "3"), ("d", "9"), ("f", "6")]);
        let want: RemoteRefChanges = [
            ("a", None),
            ("c", Some("3")),
            ("d", Some("9")),
            ("e", None),
            ("f", Some("6")),
        ]
        .into_iter()
        .map(|(n, o)| (n.to_owned(), o.map(str::to_owned)))
        .collect();
        assert_eq!(changes_between(&old, &new), want);
        assert!(changes_between(&new, &new).is_empty());
    }
}
