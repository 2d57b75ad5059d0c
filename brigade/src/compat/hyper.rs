//! hyper on brigade: an [`Executor`](hyper::rt::Executor) that spawns tasks on the current
//! brigade runtime, and a [`Timer`](hyper::rt::Timer) on brigade's timer wheel whose `reset`
//! moves the existing timer instead of allocating a new one.
//!
//! Hand them to hyper's builders (`.timer(BrigadeTimer)`, `::new(BrigadeExecutor)`); the
//! sockets in [`crate::net`] already speak hyper's I/O traits.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use hyper::rt::Timer;
//! use brigade::compat::hyper::BrigadeTimer;
//! # brigade::block_on(async {
//! let mut sleep = BrigadeTimer.sleep(Duration::from_secs(60));
//! // Pulled in without a new allocation: the same timer moves in the wheel.
//! BrigadeTimer.reset(&mut sleep, Instant::now() + Duration::from_millis(5));
//! sleep.await;
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::time::Sleep;

/// Spawns hyper's background futures (HTTP/2 connection drivers, pooled connections) as
/// detached brigade tasks on the current runtime.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrigadeExecutor;

impl<F> hyper::rt::Executor<F> for BrigadeExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        crate::spawn(future).detach();
    }
}

/// hyper's timer on brigade's wheel.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrigadeTimer;

pin_project_lite::pin_project! {
    /// A brigade [`Sleep`] in the shape hyper wants.
    #[derive(Debug)]
    pub struct BrigadeSleep {
        #[pin]
        sleep: Sleep,
    }
}

impl Future for BrigadeSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().sleep.poll(cx)
    }
}

impl hyper::rt::Sleep for BrigadeSleep {}

impl hyper::rt::Timer for BrigadeTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(BrigadeSleep {
            sleep: crate::time::sleep(duration),
        })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(BrigadeSleep {
            sleep: crate::time::sleep_until(deadline),
        })
    }

    /// The current runtime's clock, which may be virtual (`brigade::time::pause`): hyper's
    /// own deadlines then follow virtual time too.
    fn now(&self) -> Instant {
        crate::time::Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<BrigadeSleep>() {
            Some(ours) => {
                ours.project().sleep.reset(new_deadline);
            }
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
