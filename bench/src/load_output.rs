//! Reading what the load tools print, for the bench binaries that drive `h2load` (`--bin h2`,
//! `--bin https`): its summary (requests/s and mean request time), latencies such as "4.56ms",
//! and the median of a set of rounds.

/// `h2load`'s requests per second and mean request time (ms), from its full output. Warns on
/// stderr when it counted failed or errored requests.
pub fn h2load_summary(text: &str) -> Result<(f64, f64), String> {
    // "finished in 5.00s, 41234.40 req/s, 1.23MB/s"
    let rps = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|v| v.trim_end_matches(" req/s").parse::<f64>().ok())
        .ok_or_else(|| format!("no req/s in h2load output:\n{text}"))?;
    // "time for request:   123us   4.56ms   789us   ..." → min, max, mean
    let mean = text
        .lines()
        .find(|l| l.starts_with("time for request:"))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(latency_ms)
        .ok_or_else(|| format!("no request time in h2load output:\n{text}"))?;
    if let Some(line) = text.lines().find(|l| l.starts_with("requests:")) {
        if !line.contains(" 0 failed") || !line.contains(" 0 errored") {
            eprintln!("warning: h2load saw failures: {line}");
        }
    }
    Ok((rps, mean))
}

/// "789us", "4.56ms", "1.2s" in milliseconds.
pub fn latency_ms(text: &str) -> Option<f64> {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic())?);
    let value: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(value / 1e3),
        "ms" => Some(value),
        "s" => Some(value * 1e3),
        _ => None,
    }
}

/// The median of `values` (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}
