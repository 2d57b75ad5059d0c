//! A per-connection cache of prepared statements — deadpool-postgres's `prepare_cached`,
//! Npgsql's automatic preparation (`Max Auto Prepare`) in .NET terms.
//!
//! A prepared statement belongs to one server session: its name means nothing on another
//! connection. So the cache lives inside each [`Client`](crate::Client), keyed by SQL text and
//! parameter types, and a pooled connection keeps its cache across checkouts. Preparing costs
//! a round trip (Parse/Describe); a cached statement is executed straight away.
//!
//! # Invariants
//! - An entry is only ever used on the connection that prepared it (the cache is a field of
//!   that connection's `Client`), and is dropped with it: a connection the pool discards takes
//!   its statements along, and the server forgets them when the session ends.
//! - At most `capacity` statements are kept; past that the least recently used one is evicted
//!   (its `Statement` is closed on the server once no caller holds a clone).
//! - No lock is held across an `.await`: two tasks preparing the same text at once both
//!   prepare, and one of the results is kept — wasteful once, never wrong.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};

use tokio_postgres::types::Type;
use tokio_postgres::Statement;

/// Default statement cache capacity of each connection: enough for an application's whole set
/// of queries, bounded so a program that builds SQL text dynamically cannot grow a connection
/// without limit. Change it with [`PoolBuilder::statement_cache_capacity`](crate::PoolBuilder::statement_cache_capacity)
/// or [`StatementCache::set_capacity`].
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 256;

/// The prepared statements of one connection, from
/// [`Client::prepare_cached`](crate::Client::prepare_cached).
pub struct StatementCache {
    state: Mutex<CacheState>,
}

/// Counters of a [`StatementCache`], from [`StatementCache::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatementCacheStats {
    /// Statements kept now.
    pub len: usize,
    /// The most statements kept at once.
    pub capacity: usize,
    /// `prepare_cached` calls answered from the cache (no round trip).
    pub hits: u64,
    /// `prepare_cached` calls that prepared on the server.
    pub misses: u64,
    /// Statements dropped to make room.
    pub evictions: u64,
}

struct CacheState {
    /// By SQL text, then by parameter types (almost always one entry per text).
    entries: HashMap<String, Vec<Entry>>,
    len: usize,
    capacity: usize,
    /// Advances on every use; the entry with the oldest stamp is evicted first.
    clock: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
}

struct Entry {
    types: Vec<Type>,
    statement: Statement,
    last_used: u64,
}

impl StatementCache {
    pub(crate) fn new(capacity: usize) -> StatementCache {
        StatementCache {
            state: Mutex::new(CacheState {
                entries: HashMap::new(),
                len: 0,
                capacity,
                clock: 0,
                hits: 0,
                misses: 0,
                evictions: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        // No user code runs under this lock; recover from poisoning rather than spread a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached statement for `sql` and `types`, counting a hit or a miss.
    pub(crate) fn lookup(&self, sql: &str, types: &[Type]) -> Option<Statement> {
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        let found = state
            .entries
            .get_mut(sql)
            .and_then(|entries| entries.iter_mut().find(|entry| entry.types == types))
            .map(|entry| {
                entry.last_used = now;
                entry.statement.clone()
            });
        match found {
            Some(_) => state.hits += 1,
            None => state.misses += 1,
        }
        found
    }

    /// Keeps `statement` for `sql` and `types`, evicting the least recently used if full.
    pub(crate) fn insert(&self, sql: &str, types: &[Type], statement: Statement) {
        let mut state = self.lock();
        if state.capacity == 0 {
            return;
        }
        state.clock += 1;
        let now = state.clock;
        let entries = state.entries.entry(sql.to_owned()).or_default();
        if let Some(entry) = entries.iter_mut().find(|entry| entry.types == types) {
            // Another task prepared the same text meanwhile: keep the newer one.
            entry.statement = statement;
            entry.last_used = now;
            return;
        }
        entries.push(Entry {
            types: types.to_vec(),
            statement,
            last_used: now,
        });
        state.len += 1;
        while state.len > state.capacity {
            state.evict_oldest();
        }
    }

    /// Statements kept now.
    pub fn len(&self) -> usize {
        self.lock().len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters now.
    pub fn stats(&self) -> StatementCacheStats {
        let state = self.lock();
        StatementCacheStats {
            len: state.len,
            capacity: state.capacity,
            hits: state.hits,
            misses: state.misses,
            evictions: state.evictions,
        }
    }

    /// Changes how many statements are kept (0: none — `prepare_cached` then prepares every
    /// time); evicts the least recently used ones past the new limit.
    pub fn set_capacity(&self, capacity: usize) {
        let mut state = self.lock();
        state.capacity = capacity;
        while state.len > state.capacity {
            state.evict_oldest();
        }
    }

    /// Forgets every cached statement — after DDL that changed what a cached statement reads
    /// (the server then answers it with "cached plan must not change result type").
    pub fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.len = 0;
    }

    /// Forgets the statement cached for `sql` and `types`; whether there was one.
    pub fn remove(&self, sql: &str, types: &[Type]) -> bool {
        let mut state = self.lock();
        let Some(entries) = state.entries.get_mut(sql) else {
            return false;
        };
        let before = entries.len();
        entries.retain(|entry| entry.types != types);
        let removed = before - entries.len();
        if entries.is_empty() {
            state.entries.remove(sql);
        }
        state.len -= removed;
        removed > 0
    }
}

impl CacheState {
    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .flat_map(|(sql, entries)| entries.iter().map(move |entry| (entry.last_used, sql)))
            .min_by_key(|(last_used, _)| *last_used)
            .map(|(last_used, sql)| (last_used, sql.clone()));
        let Some((last_used, sql)) = oldest else {
            return;
        };
        if let Some(entries) = self.entries.get_mut(&sql) {
            entries.retain(|entry| entry.last_used != last_used);
            if entries.is_empty() {
                self.entries.remove(&sql);
            }
        }
        self.len -= 1;
        self.evictions += 1;
    }
}

impl fmt::Debug for StatementCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatementCache")
            .field("stats", &self.stats())
            .finish()
    }
}
