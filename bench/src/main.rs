//! # brigade-bench
//!
//! Side-by-side scheduler benchmarks: brigade against tokio's multi-threaded
//! runtime, on the workloads of tokio's own `benches/rt_multi_threaded.rs`.
//!
//! ```text
//! cargo run --release -p brigade-bench -- [--workers N] [--rounds N]
//!     [--warmup N] [--filter SUBSTR] [--markdown PATH]
//! ```
//!
//! How it measures:
//!
//! * Both runtimes are built **once**, in the same process, with the same
//!   worker count (`--workers`, default: available cores), and reused for
//!   every round. tokio is built without I/O or time drivers (brigade has
//!   none either), and tokio's runtime appears only in this crate.
//! * The workloads live once, in `workloads.rs`, generic over the small
//!   [`sides::Side`] trait (build / `block_on` / spawn from outside / spawn
//!   from a task / detach / `yield_now`). Both runtimes run the same code; the
//!   only shared primitive that is not the runtime's own is a tiny
//!   runtime-agnostic oneshot (`oneshot.rs`) used by `ping_pong`, and std
//!   `mpsc` channels for completion signals (as tokio's benches do).
//! * For each workload: `--warmup` rounds (default 2) per side, then
//!   `--rounds` (default 10) measured rounds, **interleaved** — tokio,
//!   brigade, tokio, brigade, … — so drift in machine state (frequency, other
//!   load) hits both sides alike.
//! * One round = one iteration of the workload; the workload function times
//!   itself, excluding setup that is not part of the shape (e.g. starting the
//!   busy tasks of `spawn_many_remote_busy1`).
//! * Reported: median per side, `brigade/tokio` ratio of medians (below 1.0
//!   means brigade is faster), and min–max per side as the spread.
//!
//! `--markdown PATH` also writes the table, preceded by a header with the UTC
//! date, core count, worker count and command line, ready for BENCHMARKS.md.

mod oneshot;
mod sides;
mod svg;
mod workloads;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sides::{Brigade, Side, Tokio};

const USAGE: &str = "\
usage: cargo run --release -p brigade-bench -- [OPTIONS]

options:
  --workers N       worker threads for BOTH runtimes (default: available cores)
  --rounds N        measured rounds per side and workload (default: 10)
  --warmup N        unmeasured warm-up rounds per side and workload (default: 2)
  --filter SUBSTR   only run workloads whose name contains SUBSTR
  --markdown PATH   also write the table (with a date/machine header) to PATH
  --charts DIR      also draw the ratios as DIR/ratios.svg (for BENCHMARKS.md)
  --list            list workload names and exit
  -h, --help        this text

environment:
  BRIGADE_BENCH_ONLY=brigade|tokio   run one side only (for profilers); prints no table
";

struct Opts {
    workers: usize,
    rounds: usize,
    warmup: usize,
    filter: Option<String>,
    markdown: Option<String>,
    charts: Option<String>,
    list: bool,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut opts = Opts {
        workers: cores(),
        rounds: 10,
        warmup: 2,
        filter: None,
        markdown: None,
        charts: None,
        list: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |name: &str, v: String| -> Result<usize, String> {
            v.parse::<usize>()
                .map_err(|_| format!("{name}: `{v}` is not a non-negative integer"))
        };
        match flag {
            "--workers" => {
                opts.workers = number(flag, value(flag)?)?;
                if opts.workers == 0 {
                    return Err("--workers must be at least 1".into());
                }
            }
            "--rounds" => {
                opts.rounds = number(flag, value(flag)?)?;
                if opts.rounds == 0 {
                    return Err("--rounds must be at least 1".into());
                }
            }
            "--warmup" => opts.warmup = number(flag, value(flag)?)?,
            "--filter" => opts.filter = Some(value(flag)?),
            "--markdown" => opts.markdown = Some(value(flag)?),
            "--charts" => opts.charts = Some(value(flag)?),
            "--list" => opts.list = true,
            // `cargo bench` style invocations pass `--bench`; ignore it.
            "--bench" => {}
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(opts)
}

/// Per-side samples of one workload.
struct Row {
    name: &'static str,
    note: Option<&'static str>,
    tokio: Vec<Duration>,
    brigade: Vec<Duration>,
}

struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

fn stats(samples: &[Duration]) -> Stats {
    let mut s = samples.to_vec();
    s.sort_unstable();
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2
    };
    Stats {
        median,
        min: s[0],
        max: s[n - 1],
    }
}

fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.3} s", us / 1e6)
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| workload | tokio (median) | brigade (median) | brigade/tokio | tokio min–max | brigade min–max |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    let mut notes = Vec::new();
    for row in rows {
        let t = stats(&row.tokio);
        let b = stats(&row.brigade);
        let ratio = b.median.as_secs_f64() / t.median.as_secs_f64();
        let name = match row.note {
            Some(note) => {
                notes.push((row.name, note));
                format!("{} [{}]", row.name, notes.len())
            }
            None => row.name.to_string(),
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {ratio:.2} | {} – {} | {} – {} |",
            fmt_dur(t.median),
            fmt_dur(b.median),
            fmt_dur(t.min),
            fmt_dur(t.max),
            fmt_dur(b.min),
            fmt_dur(b.max),
        );
    }
    if !notes.is_empty() {
        out.push('\n');
        for (i, (name, note)) in notes.iter().enumerate() {
            let _ = writeln!(out, "[{}] `{name}`: {note}", i + 1);
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC` from the system clock (civil-from-days, no deps).
/// The ratios chart: per workload, brigade/tokio of the medians, with a whisker from the
/// smallest to the largest per-round ratio (rounds are interleaved, so round i of each side ran
/// under the same machine conditions).
fn ratio_chart(rows: &[Row], opts: &Opts) -> String {
    let bars: Vec<svg::Bar> = rows
        .iter()
        .map(|row| {
            let (t, b) = (stats(&row.tokio), stats(&row.brigade));
            let ratio = b.median.as_secs_f64() / t.median.as_secs_f64();
            let per_round = row
                .brigade
                .iter()
                .zip(&row.tokio)
                .map(|(b, t)| b.as_secs_f64() / t.as_secs_f64().max(1e-12));
            let (lo, hi) = per_round.fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
            svg::Bar {
                label: row.name.to_owned(),
                value: ratio,
                range: Some((lo, hi)),
                color: if ratio <= 1.0 {
                    svg::BRIGADE
                } else {
                    svg::TOKIO
                },
                text: format!("{ratio:.2} ({lo:.2}–{hi:.2})"),
            }
        })
        .collect();
    let panel = svg::bars(
        "brigade / tokio, median time per workload (below 1.0: brigade faster)",
        &bars,
        Some((1.0, "tokio")),
    );
    svg::page(
        &[panel],
        &format!(
            "{} workers, {} rounds per side, interleaved; whiskers: min–max of per-round ratios. {}",
            opts.workers,
            opts.rounds,
            utc_now()
        ),
    )
}

fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let tod = secs % 86_400;
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        tod / 3_600,
        tod % 3_600 / 60,
        tod % 60
    )
}

fn command_line(args: &[String]) -> String {
    let mut cmd = String::from("cargo run --release -p brigade-bench");
    if !args.is_empty() {
        cmd.push_str(" --");
        for a in args {
            cmd.push(' ');
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                let _ = write!(cmd, "'{}'", a.replace('\'', r"'\''"));
            } else {
                cmd.push_str(a);
            }
        }
    }
    cmd
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let selected: Vec<_> = workloads::all()
        .into_iter()
        .filter(|w| match &opts.filter {
            Some(f) => w.name.contains(f.as_str()),
            None => true,
        })
        .collect();
    if opts.list {
        for w in &selected {
            println!("{}", w.name);
        }
        return ExitCode::SUCCESS;
    }
    if selected.is_empty() {
        eprintln!("error: no workload matches the filter");
        return ExitCode::from(2);
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; numbers are meaningless — use `--release`");
    }

    eprintln!(
        "building runtimes: {} workers each ({} cores); {} warm-up + {} measured rounds, interleaved",
        opts.workers,
        cores(),
        opts.warmup,
        opts.rounds
    );
    let tokio = Tokio::build(opts.workers);
    let brigade = Brigade::build(opts.workers);

    if let Ok(side) = std::env::var("BRIGADE_BENCH_ONLY") {
        for w in &selected {
            for _ in 0..opts.warmup + opts.rounds {
                let took = match side.as_str() {
                    "tokio" => (w.run_tokio)(&tokio, opts.workers),
                    _ => (w.run_brigade)(&brigade, opts.workers),
                };
                eprintln!("{} on {side}: {took:?}", w.name);
            }
        }
        return ExitCode::SUCCESS;
    }

    let mut rows = Vec::new();
    for w in &selected {
        eprint!("{:<26}", w.name);
        for _ in 0..opts.warmup {
            (w.run_tokio)(&tokio, opts.workers);
            (w.run_brigade)(&brigade, opts.workers);
        }
        let mut row = Row {
            name: w.name,
            note: w.note,
            tokio: Vec::with_capacity(opts.rounds),
            brigade: Vec::with_capacity(opts.rounds),
        };
        for _ in 0..opts.rounds {
            row.tokio.push((w.run_tokio)(&tokio, opts.workers));
            row.brigade.push((w.run_brigade)(&brigade, opts.workers));
            eprint!(".");
        }
        eprintln!();
        rows.push(row);
    }
    drop(tokio);
    drop(brigade);

    let table = table(&rows);
    println!();
    print!("{table}");

    if let Some(dir) = &opts.charts {
        svg::save(dir, "ratios.svg", &ratio_chart(&rows, &opts));
    }

    if let Some(path) = &opts.markdown {
        let header = format!(
            "Date: {}  \nMachine: {} cores (available parallelism)  \nWorkers: {} per runtime ({} rt-multi-thread vs {})  \nRounds: {} measured + {} warm-up per side, interleaved  \nCommand: `{}`\n\n",
            utc_now(),
            cores(),
            opts.workers,
            Tokio::NAME,
            Brigade::NAME,
            opts.rounds,
            opts.warmup,
            command_line(&args),
        );
        if let Err(e) = std::fs::write(path, header + &table) {
            eprintln!("error: writing {path}: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {path}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even() {
        let ms = Duration::from_millis;
        assert_eq!(stats(&[ms(3), ms(1), ms(2)]).median, ms(2));
        assert_eq!(
            stats(&[ms(4), ms(1), ms(2), ms(3)]).median,
            Duration::from_micros(2_500)
        );
    }

    #[test]
    fn args() {
        let a: Vec<String> = ["--workers", "3", "--rounds=5", "--filter", "spawn"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = parse_args(&a).unwrap();
        assert_eq!(
            (o.workers, o.rounds, o.filter.as_deref()),
            (3, 5, Some("spawn"))
        );
        assert!(parse_args(&["--bogus".to_string()]).is_err());
        assert!(parse_args(&["--workers".to_string()]).is_err());
    }

    #[test]
    fn command_quotes() {
        let a = vec!["--filter".to_string(), "a b".to_string()];
        assert_eq!(
            command_line(&a),
            "cargo run --release -p brigade-bench -- --filter 'a b'"
        );
    }
}
