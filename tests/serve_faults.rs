//! `mnistlab serve` under a sustained load with bad requests mixed in (Debian's `wrk`, started
//! by the test), and with slow, half-open and vanishing clients: valid requests are all answered,
//! memory stays flat, and no client can stop the others from being served. Also: the address it
//! binds by default, and what it says when told to listen beyond this machine.

mod common;

use common::{mnistlab, needs, Served};
use image::{GrayImage, Luma};
use mnistlab::data::Dataset;
use mnistlab::model::{ModelConfig, Normalization, Sequential};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn saved_model(home: &Path, arch: &str) -> PathBuf {
    let path = home.join("m.safetensors");
    let model = Sequential::new(
        ModelConfig::new(arch, Dataset::Mnist, Normalization::MinMax),
        1,
    )
    .unwrap();
    mnistlab::model::save(&model, &path).unwrap();
    path
}

/// A dark digit-like stroke on white paper, as PNG.
fn drawing() -> Vec<u8> {
    let image = GrayImage::from_fn(120, 90, |x, y| {
        let on = (x as i64 - 40 - y as i64 / 4).abs() < 6 && (10..80).contains(&y);
        Luma([if on { 15 } else { 245 }])
    });
    mnistlab::picture::draw::png(&image)
}

fn host_port(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

/// One `POST /predict` of `body` on a fresh connection, with a deadline well under the server's
/// own timeouts: a server held up by other clients fails it. Returns the status code.
fn predict(base: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(host_port(base)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut status = String::new();
    BufReader::new(stream)
        .read_line(&mut status)
        .unwrap_or_else(|e| panic!("no answer: {e}"));
    status
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status:?}"))
}

/// The resident memory of process `pid`, in kB (from /proc).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn slow_half_open_and_vanishing_clients_do_not_stop_others_being_served() {
    let home = tempfile::tempdir().unwrap();
    let served = Served::start(home.path(), &[saved_model(home.path(), "8C3-ReLU-MP2-D10")]);
    let addr = host_port(&served.base);
    let body = drawing();
    let head = format!(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut held = Vec::new();
    // More of each kind than the server has classifier workers.
    for _ in 0..8 {
        // Half-open: connected, nothing sent.
        held.push(TcpStream::connect(&addr).unwrap());
        // Half a request line.
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"POST /pred").unwrap();
        held.push(s);
        // Headers, then the body trickled in a byte at a time (below).
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body[..10]).unwrap();
        held.push(s);
        // Headers and half the body, then gone.
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body[..body.len() / 2]).unwrap();
        drop(s);
    }
    for round in 0..20 {
        for s in held.iter_mut().skip(2).step_by(3) {
            let _ = s.write_all(&body[10 + round..11 + round]);
        }
        assert_eq!(predict(&served.base, &body), 200, "round {round}");
    }
    drop(held);
    assert_eq!(predict(&served.base, &body), 200, "after they all went");
}

#[test]
fn binds_this_machine_only_unless_told_and_then_says_so() {
    let home = tempfile::tempdir().unwrap();
    let model = saved_model(home.path(), "D10");
    let served = Served::start(home.path(), std::slice::from_ref(&model));
    assert!(
        served.base.starts_with("http://127.0.0.1:"),
        "{}",
        served.base
    );
    drop(served);

    let mut child = mnistlab(home.path())
        .arg("serve")
        .arg(&model)
        .args(["--port", "0", "--host", "0.0.0.0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("http://0.0.0.0:"), "{first}");
    assert!(
        second.contains("reachable from other machines"),
        "{first}\n{second}"
    );
}

/// wrk's script: valid predictions with bad requests mixed in (one in five), counted per kind
/// and per status, then the latency percentiles and rate as one JSON line.
const WRK_SCRIPT: &str = r#"
local body = io.open(os.getenv("PICTURE"), "rb"):read("*a")
local kinds = {
  {name = "valid", status = 200, req = wrk.format("POST", "/predict", {["Content-Type"] = "image/png"}, body)},
  {name = "valid", status = 200, req = wrk.format("POST", "/predict", {["Content-Type"] = "image/png"}, body)},
  {name = "valid", status = 200, req = wrk.format("POST", "/predict", {["Content-Type"] = "image/png"}, body)},
  {name = "valid", status = 200, req = wrk.format("POST", "/predict", {["Content-Type"] = "image/png"}, body)},
  {name = "text", status = 415, req = wrk.format("POST", "/predict", {["Content-Type"] = "text/plain"}, "hello")},
  {name = "valid", status = 200, req = wrk.format("POST", "/predict", {["Content-Type"] = "image/png"}, body)},
  {name = "garbage", status = 400, req = wrk.format("POST", "/predict", {["Content-Type"] = "image/png"}, "\137PNG not really")},
  {name = "valid", status = 200, req = wrk.format("POST", "/predict", {["Content-Type"] = "image/png"}, body)},
  {name = "path", status = 404, req = wrk.format("GET", "/nowhere")},
  {name = "method", status = 405, req = wrk.format("GET", "/predict")},
}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) sent = {} got = {} i = 0 end
function request()
  i = i % #kinds + 1
  local k = kinds[i]
  sent[k.status] = (sent[k.status] or 0) + 1
  return k.req
end
function response(status, headers, body) got[status] = (got[status] or 0) + 1 end
function done(summary, latency, requests)
  local s, g = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("sent")) do s[k] = (s[k] or 0) + v end
    for k, v in pairs(t:get("got")) do g[k] = (g[k] or 0) + v end
  end
  local function obj(m)
    local parts = {}
    for k, v in pairs(m) do table.insert(parts, string.format('"%d": %d', k, v)) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  local e = summary.errors
  io.write(string.format('RESULT {"sent": %s, "got": %s, "errors": %d, "p50_ms": %.2f, "p99_ms": %.2f, "rps": %.1f}\n',
    obj(s), obj(g), e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
"#;

/// Runs wrk against `base` for `seconds` with 64 connections; returns its RESULT line as JSON.
fn wrk(base: &str, script: &Path, picture: &Path, seconds: u32) -> serde_json::Value {
    let out = Command::new("wrk")
        .args(["-t", "4", "-c", "64", "--timeout", "10s"])
        .arg(format!("-d{seconds}s"))
        .arg("-s")
        .arg(script)
        .arg(base)
        .env("PICTURE", picture)
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT in {text}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn a_sustained_load_with_bad_requests_mixed_in_loses_no_valid_request_and_no_memory() {
    if !needs(Command::new("wrk").arg("-v").output().is_ok(), "wrk") {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let served = Served::start(
        home.path(),
        &[saved_model(
            home.path(),
            "32C5-ReLU-MP2-64C5-ReLU-MP2-D128-D10",
        )],
    );
    let (script, picture) = (home.path().join("load.lua"), home.path().join("digit.png"));
    std::fs::write(&script, WRK_SCRIPT).unwrap();
    std::fs::write(&picture, drawing()).unwrap();

    let warm = wrk(&served.base, &script, &picture, 5);
    let rss_warm = rss_kb(served.child.id());
    let load = wrk(&served.base, &script, &picture, 30);
    let rss_end = rss_kb(served.child.id());
    eprintln!(
        "warm-up: {warm}\nload: {load}\nRSS after warm-up {rss_warm} kB, at the end {rss_end} kB"
    );

    assert_eq!(load["errors"], 0, "socket errors or timeouts: {load}");
    let count = |side: &str, status: &str| load[side][status].as_u64().unwrap_or(0);
    for (status, got) in load["got"].as_object().unwrap() {
        assert!(
            ["200", "400", "404", "405", "415"].contains(&status.as_str()),
            "unexpected status {status} ×{got}: {load}"
        );
        // Requests still in flight when wrk stops are sent but never answered.
        assert!(
            got.as_u64().unwrap() <= count("sent", status),
            "status {status} answered more often than asked for: {load}"
        );
    }
    assert!(
        count("got", "200") + 64 >= count("sent", "200") && count("got", "200") > 0,
        "valid requests lost: {load}"
    );
    assert!(
        rss_end * 10 <= rss_warm * 11,
        "memory grew from {rss_warm} kB to {rss_end} kB"
    );
    // Still serving.
    let mut text = String::new();
    TcpStream::connect(host_port(&served.base))
        .and_then(|mut s| {
            s.write_all(b"GET /model HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            s.read_to_string(&mut text)
        })
        .unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}
