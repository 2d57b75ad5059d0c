//! 12. Cancellation: the cooperative pattern

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brigade::cancel::{CancellationToken, CancellationTokenSource, Cancelled};
use brigade::prelude::*;
use brigade::Runtime;

use crate::common::{chapter, ms, say, show};

/// The article's contractor: paints rooms, checking the walkie-talkie between rooms. Notes
/// when each room was finished, so the tour can say which rooms came before the call.
async fn paint_house(
    rooms: u32,
    token: CancellationToken,
    finished: Arc<Mutex<Vec<Instant>>>,
) -> Result<u32, Cancelled> {
    let mut painted = 0;
    for _ in 0..rooms {
        token.error_if_cancelled()?; // ThrowIfCancellationRequested, made for `?`
        brigade::time::sleep(Duration::from_millis(10)).await; // one room
        painted += 1;
        finished.lock().unwrap().push(Instant::now());
    }
    Ok(painted)
}

pub(crate) fn ch12_cancellation(rt: &Runtime) {
    chapter("12. Cancellation: the cooperative pattern");
    say(
        "You hire a contractor to paint your house and give them a walkie-talkie (a \
         CancellationToken); you keep the base station (the CancellationTokenSource). Nobody \
         drags the painter off the ladder: the painter checks the walkie-talkie between rooms \
         and packs up. Here the contractor has 100 rooms, 10 ms each, and we call it off \
         after 55 ms:",
    );
    let finished = Arc::new(Mutex::new(Vec::new()));
    let rooms = Arc::clone(&finished);
    let (outcome, called_off_at, called_off_after, took) = rt.block_on(rt.spawn(async move {
        let base_station = CancellationTokenSource::new();
        let started = Instant::now();
        let job = brigade::spawn(paint_house(100, base_station.token(), rooms));
        brigade::time::sleep(Duration::from_millis(55)).await;
        let called_off = Instant::now();
        base_station.cancel(); // "Stop painting!"
        let outcome = job.await;
        (outcome, called_off, called_off - started, started.elapsed())
    }));
    let finished = finished.lock().unwrap();
    let before_call = finished.iter().filter(|&&at| at <= called_off_at).count();
    let after_call = finished.len() - before_call;
    let finishing = match after_call {
        0 => "no room was under way, so the painter stopped at the next check".to_string(),
        1 => "the painter finished the room under way (the check is between rooms) and \
              stopped at the next check"
            .to_string(),
        more => format!("the painter still finished {more} rooms (unexpected)"),
    };
    show(&format!(
        "cancel() was called {} after the start, with {before_call} rooms painted; \
         {finishing}, {} after the start: {outcome:?}",
        ms(called_off_after),
        ms(took)
    ));
    say(
        "A painter who cannot keep checking leaves a number: register(callback) runs the \
         callback the moment cancel() is called, on the cancelling thread, newest first. And \
         an async wait needs no checks at all: with_cancellation(&token) ends the wait with \
         Err(Cancelled) and drops the waiting future, Rust's own way to cancel.",
    );
    let (calls, sleep_outcome, waited) = rt.block_on(rt.spawn(async {
        let base_station = CancellationTokenSource::new();
        let token = base_station.token();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let registrations: Vec<_> = ["the supplier", "the neighbour"]
            .into_iter()
            .map(|who| {
                let calls = Arc::clone(&calls);
                token.register(move || calls.lock().unwrap().push(format!("called {who}")))
            })
            .collect();
        let canceller = brigade::spawn(async move {
            brigade::time::sleep(Duration::from_millis(20)).await;
            base_station.cancel();
        });
        let started = Instant::now();
        let slept = brigade::time::sleep(Duration::from_secs(60))
            .with_cancellation(&token)
            .await;
        canceller.await;
        drop(registrations);
        let calls = calls.lock().unwrap().clone();
        (calls, slept, started.elapsed())
    }));
    show(&format!("callbacks ran in order: {}", calls.join(", ")));
    show(&format!(
        "a 60 s sleep under the token ended after {}: {sleep_outcome:?}",
        ms(waited)
    ));

    say(
        "Sources link and time out. A request gets its own source linked to the server's \
         shutdown token — cancelled by either, never cancelling its parent — and \
         with_timeout(d) calls itself off after d, on brigade's timer wheel:",
    );
    let (one_request, server_after_one, all_requests, timed_out, timeout_took) =
        rt.block_on(rt.spawn(async {
            let server = CancellationTokenSource::new();
            let first = CancellationTokenSource::linked(&[server.token()]);
            let second = CancellationTokenSource::linked(&[server.token()]);
            first.cancel(); // one request gives up...
            let server_after_one = server.is_cancellation_requested();
            server.cancel(); // ...then the server shuts down
            let all = first.is_cancellation_requested() && second.is_cancellation_requested();

            let deadline = CancellationTokenSource::with_timeout(Duration::from_millis(30));
            let started = Instant::now();
            deadline.token().cancelled().await;
            (
                first.is_cancellation_requested(),
                server_after_one,
                all,
                deadline.is_cancellation_requested(),
                started.elapsed(),
            )
        }));
    show(&format!(
        "one request cancelled: {one_request}; the server cancelled with it: {server_after_one}"
    ));
    show(&format!(
        "server cancelled: every linked request cancelled: {all_requests}"
    ));
    show(&format!(
        "with_timeout(30 ms): cancelled {timed_out} after {}",
        ms(timeout_took)
    ));
}
