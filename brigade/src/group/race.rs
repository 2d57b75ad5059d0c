//! `race`: the first of several futures of *different* types to finish; the losers are
//! dropped — `Task.WhenAny` over tasks with different result types, where .NET hands back the
//! winning `Task` and the caller switches on which one it was.
//!
//! Why a function over a tuple and not a `select!` macro: `race((a, b, c))` is an ordinary
//! future, type-checked like any other — no macro grammar to learn, no branch bodies that run
//! with the other branches' futures half-polled, no question of which branch's pattern failed,
//! and it composes (a race can be spawned, put in a group, raced again). The output is an enum
//! with one variant per position ([`Race3::First`], ...), so `match` says what happened. Its
//! cost is the same as a macro's: the futures are polled in place, no allocation, no boxing.
//!
//! # Fairness
//! [`race`] is round-robin: each poll starts with the branch after the one the previous poll
//! started with, and the first poll of each race starts one branch later than the previous
//! race made on the same thread. So when several branches are ready at once the winner
//! rotates, and a race in a loop over an always-ready branch does not starve the others.
//! [`race_biased`] always polls in tuple order: the first ready branch listed wins — for
//! priorities, e.g. a cancellation or shutdown branch listed first.
//!
//! # Invariants
//! - Exactly one branch's output is returned; the moment it is, every other branch is dropped
//!   (in place, before `poll` returns), so a loser's drop guards run before the caller goes on.
//! - A panicking branch unwinds out of the race's poll; the other branches are dropped with
//!   the race.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A tuple of futures that [`race`] can race: `(A, B)` up to six elements.
///
/// ```
/// use brigade::group::{IntoRace, Race2};
///
/// # brigade::block_on(async {
/// let racing = (async { 'a' }, std::future::pending::<()>()).into_race(true);
/// assert_eq!(racing.await, Race2::First('a'));
/// # });
/// ```
pub trait IntoRace {
    /// The future racing them.
    type Race: Future;

    /// Starts the race; `biased` picks [`race_biased`]'s polling order.
    fn into_race(self, biased: bool) -> Self::Race;
}

/// Waits for the first of the futures in the tuple to finish and returns its output, tagged
/// with its position; drops the others. Round-robin when several are ready (see the module
/// documentation's fairness rule).
///
/// ```
/// use brigade::group::{race, Race3};
/// use std::time::Duration;
///
/// # brigade::block_on(async {
/// let user = async { brigade::time::sleep(Duration::from_secs(30)).await; "ada" };
/// let timeout = brigade::time::sleep(Duration::from_millis(10));
/// let count = std::future::pending::<u64>();
/// match race((user, timeout, count)).await {
///     Race3::First(name) => println!("user {name}"),
///     Race3::Second(()) => println!("timed out"),
///     Race3::Third(n) => println!("{n} users"),
/// }
/// # });
/// ```
pub fn race<T: IntoRace>(futures: T) -> T::Race {
    futures.into_race(false)
}

/// [`race`] with a fixed priority: every poll tries the branches in tuple order, so the first
/// listed of several ready branches wins.
///
/// ```
/// use brigade::group::{race_biased, Race2};
///
/// # brigade::block_on(async {
/// let out = race_biased((async { "listed first" }, async { 2 })).await;
/// assert!(matches!(out, Race2::First("listed first")));
/// # });
/// ```
pub fn race_biased<T: IntoRace>(futures: T) -> T::Race {
    futures.into_race(true)
}

/// Where the next race on this thread starts (round-robin across races).
fn next_start(branches: u8) -> u8 {
    std::thread_local! {
        static NEXT: Cell<u8> = const { Cell::new(0) };
    }
    NEXT.with(|next| {
        let start = next.get();
        next.set(start.wrapping_add(1));
        start % branches
    })
}

macro_rules! race_arity {
    (
        $(#[$enum_doc:meta])* $Race:ident,
        $(#[$future_doc:meta])* $Racing:ident,
        $count:literal;
        $($F:ident $field:ident $Variant:ident $index:literal),+
    ) => {
        $(#[$enum_doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $Race<$($F),+> {
            $(
                #[doc = concat!("Branch ", stringify!($index), " (counting from 0) finished first.")]
                $Variant($F),
            )+
        }

        $(#[$future_doc])*
        #[must_use = "futures do nothing unless awaited"]
        pub struct $Racing<$($F: Future),+> {
            $($field: Option<$F>,)+
            /// The branch the next poll starts with.
            start: u8,
            biased: bool,
            finished: bool,
        }

        impl<$($F: Future),+> IntoRace for ($($F,)+) {
            type Race = $Racing<$($F),+>;

            fn into_race(self, biased: bool) -> Self::Race {
                let ($($field,)+) = self;
                $Racing {
                    $($field: Some($field),)+
                    start: if biased { 0 } else { next_start($count) },
                    biased,
                    finished: false,
                }
            }
        }

        impl<$($F: Future),+> $Racing<$($F),+> {
            fn drop_branches(&mut self) {
                $(self.$field = None;)+
            }
        }

        impl<$($F: Future),+> Future for $Racing<$($F),+> {
            type Output = $Race<$($F::Output),+>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                // SAFETY: the branches are structurally pinned: never moved out of `self`,
                // only dropped in place (assigning `None`). The other fields are plain data.
                let this = unsafe { self.get_unchecked_mut() };
                assert!(!this.finished, "a race was polled after it finished");
                let start = this.start;
                if !this.biased {
                    this.start = (start + 1) % $count;
                }
                for step in 0..$count {
                    let branch = (start + step) % $count;
                    $(
                        if branch == $index {
                            if let Some(future) = &mut this.$field {
                                // SAFETY: see above.
                                let future = unsafe { Pin::new_unchecked(future) };
                                if let Poll::Ready(output) = future.poll(cx) {
                                    this.finished = true;
                                    // The losers (and the winner's spent future) go now.
                                    this.drop_branches();
                                    return Poll::Ready($Race::$Variant(output));
                                }
                            }
                        }
                    )+
                }
                Poll::Pending
            }
        }

        impl<$($F: Future),+> fmt::Debug for $Racing<$($F),+> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($Racing))
                    .field("biased", &self.biased)
                    .field("finished", &self.finished)
                    .finish()
            }
        }
    };
}

race_arity!(
    /// Which of two raced futures finished first, with its output.
    ///
    /// ```
    /// # brigade::block_on(async {
    /// let out = brigade::group::race((std::future::pending::<()>(), async { 5 })).await;
    /// assert_eq!(out, brigade::group::Race2::Second(5));
    /// # });
    /// ```
    Race2,
    /// The future returned by [`race`] for two futures.
    ///
    /// ```
    /// let racing: brigade::group::Racing2<_, _> = brigade::group::race((async { 1 }, async { 2 }));
    /// # drop(racing);
    /// ```
    Racing2, 2; A a First 0, B b Second 1
);
race_arity!(
    /// Which of three raced futures finished first, with its output.
    ///
    /// ```
    /// use brigade::group::{race, Race3};
    /// # brigade::block_on(async {
    /// let out = race((std::future::pending::<()>(), std::future::pending::<u8>(), async { "c" })).await;
    /// assert_eq!(out, Race3::Third("c"));
    /// # });
    /// ```
    Race3,
    /// The future returned by [`race`] for three futures.
    ///
    /// ```
    /// let racing = brigade::group::race((async { 1 }, async { 2 }, async { 3 }));
    /// # drop(racing);
    /// ```
    Racing3, 3; A a First 0, B b Second 1, C c Third 2
);
race_arity!(
    /// Which of four raced futures finished first, with its output.
    ///
    /// ```
    /// use brigade::group::{race, Race4};
    /// use std::future::pending;
    /// # brigade::block_on(async {
    /// let out = race((pending::<()>(), pending::<()>(), pending::<()>(), async { 4 })).await;
    /// assert_eq!(out, Race4::Fourth(4));
    /// # });
    /// ```
    Race4,
    /// The future returned by [`race`] for four futures.
    ///
    /// ```
    /// let racing = brigade::group::race((async { 1 }, async { 2 }, async { 3 }, async { 4 }));
    /// # drop(racing);
    /// ```
    Racing4, 4; A a First 0, B b Second 1, C c Third 2, D d Fourth 3
);
race_arity!(
    /// Which of five raced futures finished first, with its output.
    ///
    /// ```
    /// use brigade::group::{race, Race5};
    /// use std::future::pending;
    /// # brigade::block_on(async {
    /// let out = race((pending::<()>(), pending::<()>(), pending::<()>(), pending::<()>(), async { 5 })).await;
    /// assert_eq!(out, Race5::Fifth(5));
    /// # });
    /// ```
    Race5,
    /// The future returned by [`race`] for five futures.
    ///
    /// ```
    /// let racing = brigade::group::race((async { 1 }, async { 2 }, async { 3 }, async { 4 }, async { 5 }));
    /// # drop(racing);
    /// ```
    Racing5, 5; A a First 0, B b Second 1, C c Third 2, D d Fourth 3, E e Fifth 4
);
race_arity!(
    /// Which of six raced futures finished first, with its output.
    ///
    /// ```
    /// use brigade::group::{race_biased, Race6};
    /// # brigade::block_on(async {
    /// let out = race_biased((async { 1 }, async { 2 }, async { 3 }, async { 4 }, async { 5 }, async { 6 })).await;
    /// assert_eq!(out, Race6::First(1));
    /// # });
    /// ```
    Race6,
    /// The future returned by [`race`] for six futures.
    ///
    /// ```
    /// let racing = brigade::group::race((async { 1 }, async { 2 }, async { 3 }, async { 4 }, async { 5 }, async { 6 }));
    /// # drop(racing);
    /// ```
    Racing6, 6; A a First 0, B b Second 1, C c Third 2, D d Fourth 3, E e Fifth 4, F f Sixth 5
);
