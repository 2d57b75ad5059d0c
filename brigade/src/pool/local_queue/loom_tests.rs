//! Loom models of the local queue: owner and stealers racing; nothing lost or duplicated.

use super::*;
use std::cell::RefCell;

/// Overflow sink for the owner thread only (no `Sync` needed, no loom ops inside).
struct Sink(RefCell<Vec<usize>>);

impl Overflow<usize> for Sink {
    fn push_batch(&self, batch: impl Iterator<Item = usize>) {
        self.0.borrow_mut().extend(batch);
    }
}

fn drain(local: &mut Local<usize>, into: &mut Vec<usize>) {
    while let Some(task) = local.pop() {
        into.push(task);
    }
}

/// Steals once into a fresh local queue and drains it.
fn steal_once(stealer: &Stealer<usize>) -> Vec<usize> {
    let (mut dst, _) = local();
    let mut seen = Vec::new();
    if let Some(task) = stealer.steal_half_into(&mut dst) {
        seen.push(task);
        drain(&mut dst, &mut seen);
    }
    seen
}

fn assert_exactly_once(mut seen: Vec<usize>, n: usize) {
    seen.sort_unstable();
    assert_eq!(seen, (0..n).collect::<Vec<_>>(), "lost or duplicated items");
}

#[test]
fn push_pop_while_stealing() {
    loom::model(|| {
        let (mut owner, stealer) = local::<usize>();
        let sink = Sink(RefCell::new(Vec::new()));
        let thief = loom::thread::spawn(move || steal_once(&stealer));

        let mut seen = Vec::new();
        for i in 0..3 {
            owner.push_back(i, &sink);
        }
        seen.extend(owner.pop());
        drain(&mut owner, &mut seen);

        seen.extend(thief.join().unwrap());
        drain(&mut owner, &mut seen);
        assert!(sink.0.borrow().is_empty(), "3 items fit in 4 slots");
        assert_exactly_once(seen, 3);
    });
}

#[test]
fn overflow_while_stealing() {
    loom::model(|| {
        const N: usize = LOCAL_QUEUE_CAPACITY + 2;
        let (mut owner, stealer) = local::<usize>();
        let sink = Sink(RefCell::new(Vec::new()));
        let thief = loom::thread::spawn(move || steal_once(&stealer));

        let mut seen = Vec::new();
        for i in 0..N {
            owner.push_back(i, &sink);
        }
        seen.extend(owner.pop());

        seen.extend(thief.join().unwrap());
        drain(&mut owner, &mut seen);
        seen.extend(sink.0.take());
        assert_exactly_once(seen, N);
    });
}

#[test]
fn two_stealers_and_owner_pop() {
    loom::model(|| {
        const N: usize = LOCAL_QUEUE_CAPACITY + 1;
        let (mut owner, stealer) = local::<usize>();
        let sink = Sink(RefCell::new(Vec::new()));
        owner.push_back_batch(0..LOCAL_QUEUE_CAPACITY - 1);

        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let stealer = stealer.clone();
                loom::thread::spawn(move || steal_once(&stealer))
            })
            .collect();

        // Pop, then push into the slots thieves may still be reading.
        let mut seen = Vec::new();
        seen.extend(owner.pop());
        for i in LOCAL_QUEUE_CAPACITY - 1..N {
            owner.push_back(i, &sink);
        }
        for thief in thieves {
            seen.extend(thief.join().unwrap());
        }
        drain(&mut owner, &mut seen);
        seen.extend(sink.0.take());
        assert_exactly_once(seen, N);
    });
}
