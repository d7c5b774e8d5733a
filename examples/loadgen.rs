//! An open-loop HTTP/1.1 load generator for `benches/proxy_latency.sh`:
//! requests go out at a fixed rate whatever the server does, so a slow
//! response is not hidden by the requests a closed loop (wrk) would stop
//! sending meanwhile.
//!
//! ```sh
//! cargo run --release --example loadgen -- http://127.0.0.1:8080/path \
//!     --rate 2000 --connections 16 --seconds 10 -H 'X-Request-Id: req-1'
//! ```
//!
//! Each connection is a thread with one keep-alive connection that sends
//! its share of the rate on a fixed schedule. A request's latency runs
//! from when it was due to when its whole response arrived: when the
//! connection was still busy with an earlier response at that time, the
//! wait counts (as in wrk2's corrected mode); when it was idle, latency
//! runs from the actual send, so this program's own timer slack is not
//! counted against the server.
//!
//! Prints one line: `p50_us p99_us p99.9_us max_us requests_per_s errors`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Args {
    host: String,
    port: u16,
    path: String,
    rate: f64,
    connections: usize,
    seconds: f64,
    headers: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut url = None;
    let (mut rate, mut connections, mut seconds) = (1000.0f64, 1usize, 10.0f64);
    let mut headers = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--rate" => rate = value("--rate")?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--connections" => {
                connections = value("--connections")?
                    .parse()
                    .map_err(|e| format!("--connections: {e}"))?
            }
            "--seconds" => {
                seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "-H" | "--header" => headers.push(value("-H")?),
            "--help" | "-h" => {
                return Err("usage: loadgen http://HOST:PORT/PATH [--rate N] [--connections N] [--seconds N] [-H 'Name: value']...".into())
            }
            u if u.starts_with("http://") => url = Some(u.to_owned()),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let url = url.ok_or("an http:// URL is required (see --help)")?;
    let rest = &url["http://".len()..];
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or("the URL needs an explicit port")?;
    if !rate.is_finite()
        || rate <= 0.0
        || connections == 0
        || !seconds.is_finite()
        || seconds <= 0.0
    {
        return Err("--rate, --connections and --seconds must be positive".into());
    }
    Ok(Args {
        host: host.to_owned(),
        port: port.parse().map_err(|e| format!("port: {e}"))?,
        path: if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
        rate,
        connections,
        seconds,
        headers,
    })
}

/// Reads one response (status line, headers, a `Content-Length` body).
fn read_response(r: &mut BufReader<TcpStream>, line: &mut String) -> std::io::Result<()> {
    let mut length = 0usize;
    let mut first = true;
    loop {
        line.clear();
        if r.read_line(line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if first {
            first = false;
            if !line.starts_with("HTTP/1.1 ") {
                return Err(std::io::Error::other(format!(
                    "not an HTTP/1.1 response: {line:?}"
                )));
            }
            continue;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(std::io::Error::other)?;
            }
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body)
}

/// One connection's run: latencies in nanoseconds, and errors.
fn connection(args: &Args, request: &[u8], offset: Duration, start: Instant) -> (Vec<u64>, u64) {
    let period = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let n = (args.seconds * args.rate / args.connections as f64) as usize;
    let mut latencies = Vec::with_capacity(n);
    let mut errors = 0;
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let mut line = String::new();
    for i in 0..n {
        let due = start + offset + period * i as u32;
        let now = Instant::now();
        let sent_from = if now < due {
            std::thread::sleep(due - now);
            // Idle until due: our own timer slack is not the server's.
            Instant::now()
        } else {
            // Still busy with an earlier response when this one was due.
            due
        };
        if conn.is_none() {
            match TcpStream::connect((args.host.as_str(), args.port)) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    match s.try_clone() {
                        Ok(r) => conn = Some((s, BufReader::new(r))),
                        Err(_) => {
                            errors += 1;
                            continue;
                        }
                    }
                }
                Err(_) => {
                    errors += 1;
                    continue;
                }
            }
        }
        let Some((w, r)) = conn.as_mut() else {
            continue;
        };
        match w
            .write_all(request)
            .and_then(|_| read_response(r, &mut line))
        {
            Ok(()) => latencies.push(sent_from.elapsed().as_nanos() as u64),
            Err(_) => {
                errors += 1;
                conn = None;
            }
        }
    }
    (latencies, errors)
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\n",
        args.path, args.host, args.port
    );
    for h in &args.headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let start = Instant::now() + Duration::from_millis(50);
    let stagger = Duration::from_secs_f64(1.0 / args.rate);
    let results: Vec<(Vec<u64>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.connections)
            .map(|c| {
                let (args, request) = (&args, request.as_bytes());
                s.spawn(move || connection(args, request, stagger * c as u32, start))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let errors: u64 = results.iter().map(|r| r.1).sum();
    let mut all: Vec<u64> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort_unstable();
    let us = |q| quantile(&all, q) as f64 / 1000.0;
    println!(
        "{:.1} {:.1} {:.1} {:.1} {:.0} {errors}",
        us(0.5),
        us(0.99),
        us(0.999),
        all.last().copied().unwrap_or(0) as f64 / 1000.0,
        all.len() as f64 / elapsed,
    );
}
