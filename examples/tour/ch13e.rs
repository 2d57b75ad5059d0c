//! 13E. Coordination: the seed's producer/consumer and throttled downloads, on brigade::sync
//!
//! `System.Threading.Channels` becomes `brigade::sync::channel`, `SemaphoreSlim.WaitAsync`
//! becomes `brigade::sync::Semaphore::acquire`. Both waits hold no thread and take a
//! cancellation token (`.with_cancellation(&token)`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brigade::sync::{channel, Semaphore};
use brigade::Runtime;

use crate::common::{chapter, ms, say, show};

/// Counts what is in flight right now and the most ever seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// A download server: every request takes 20 ms, and the server counts how many it is
/// serving at once — the figure the throttle must hold down, measured where it matters.
async fn file_server(
    in_flight: Arc<InFlight>,
    request: http::Request<brigade_http::Incoming>,
) -> Result<http::Response<brigade_http::Full<brigade_http::Bytes>>, std::convert::Infallible> {
    in_flight.enter();
    brigade::time::sleep(Duration::from_millis(20)).await;
    in_flight.leave();
    let body = format!("contents of {}", request.uri().path());
    Ok(http::Response::new(brigade_http::Full::new(body.into())))
}

pub(crate) fn ch13e_coordination(rt: &Runtime) {
    chapter("13E. Coordination: producer/consumer and throttled downloads");
    say(
        "The seed's producer/consumer: a Channel<T> with room for a few items, a producer \
         that writes faster than the consumer reads. WriteAsync waits while the channel is \
         full, so the producer slows to the consumer's pace instead of filling memory. \
         brigade::sync::channel(4), 20 orders, a cook taking 2 ms each:",
    );
    let (most_queued, producer_waited, cooked, took) = rt.block_on(rt.spawn(async {
        let (tickets, kitchen) = channel::<u32>(4);
        let started = Instant::now();
        let producer_tickets = tickets.clone();
        let producer = brigade::spawn(async move {
            let mut waited = Duration::ZERO;
            let mut most_queued = 0;
            for order in 1..=20 {
                let send_started = Instant::now();
                producer_tickets
                    .send(order)
                    .await
                    .expect("the cook is there");
                waited += send_started.elapsed();
                most_queued = most_queued.max(producer_tickets.len());
            }
            (most_queued, waited)
        });
        drop(tickets); // the producer's clone is the last sender: done when it is dropped
        let cook = brigade::spawn(async move {
            let mut cooked = Vec::new();
            while let Some(order) = kitchen.recv().await {
                brigade::time::sleep(Duration::from_millis(2)).await;
                cooked.push(order);
            }
            cooked
        });
        let (most_queued, waited) = producer.await;
        let cooked = cook.await;
        (most_queued, waited, cooked, started.elapsed())
    }));
    let in_order = cooked.windows(2).all(|pair| pair[0] < pair[1]);
    show(&format!(
        "{} orders cooked in {} (in order: {in_order}); the most queued at once was \
         {most_queued} of 4; the producer spent {} waiting for room",
        cooked.len(),
        ms(took),
        ms(producer_waited)
    ));

    say(
        "Throttled downloads: the seed starts every download at once but lets only a few run, \
         with a SemaphoreSlim — WaitAsync before each request, Release after. Here 24 \
         downloads from a brigade-http server this chapter starts on loopback (20 ms a \
         request), first with a Semaphore of 3, then with no limit. The server counts the \
         requests it serves at once:",
    );
    let throttled = downloads(rt, Some(3));
    let unthrottled = downloads(rt, None);
    for (label, outcome) in [("Semaphore(3)", throttled), ("no limit", unthrottled)] {
        match outcome {
            Ok((fetched, most, took)) => show(&format!(
                "{label}: {fetched} of 24 downloads in {}; the server saw at most {most} \
                 at once",
                ms(took)
            )),
            Err(error) => show(&format!("{label}: the downloads failed: {error}")),
        }
    }
    say(
        "The throttle is the semaphore's permit count: the request waits for a permit, not a \
         thread, and the permit goes back when the guard is dropped, even if the request \
         failed or was cancelled.",
    );
}

/// 24 downloads from a fresh local server, at most `limit` at once (None: all at once).
/// Returns how many succeeded, the most the server served at once, and the time taken.
fn downloads(rt: &Runtime, limit: Option<usize>) -> std::io::Result<(usize, usize, Duration)> {
    let in_flight = Arc::new(InFlight::default());
    let counted = Arc::clone(&in_flight);
    rt.block_on(rt.spawn(async move {
        let shutdown = brigade::cancel::CancellationTokenSource::new();
        let server = brigade_http::Server::bind("127.0.0.1:0")
            .await?
            .shutdown_on(shutdown.token());
        let addr = server.local_addr()?;
        let handler = move |request| file_server(Arc::clone(&counted), request);
        let serving = brigade::spawn(server.serve(brigade_http::service_fn(handler)));

        let client = brigade_http::Client::new();
        let throttle = Arc::new(Semaphore::new(limit.unwrap_or(Semaphore::MAX_PERMITS)));
        let started = Instant::now();
        let fetches = (0..24).map(|file| {
            let (client, throttle) = (client.clone(), Arc::clone(&throttle));
            brigade::spawn(async move {
                let _permit = throttle.acquire().await.expect("never closed"); // WaitAsync
                let response = client
                    .get(format!("http://{addr}/files/{file}"))
                    .send()
                    .await?;
                response.text().await
            }) // the permit is released here, when `_permit` is dropped
        });
        let fetched = brigade::when_all(fetches)
            .await
            .into_iter()
            .filter(Result::is_ok)
            .count();
        let took = started.elapsed();
        shutdown.cancel();
        let _ = serving.await;
        Ok((fetched, in_flight.most(), took))
    }))
}
