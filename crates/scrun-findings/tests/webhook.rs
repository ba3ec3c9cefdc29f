//! WebhookSink against real local TCP servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use scrun_findings::{Category, Finding, Sink, WebhookOptions, WebhookSink};

struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &TcpStream) -> Request {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap();
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    Request {
        line: line.trim_end().to_owned(),
        headers,
        body,
    }
}

/// Answers one connection per status in `statuses`, returning what it received.
fn server(statuses: Vec<u16>) -> (String, thread::JoinHandle<(Vec<Request>, TcpListener)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let mut got = Vec::new();
        for s in statuses {
            let (mut c, _) = l.accept().unwrap();
            got.push(read_request(&c));
            write!(
                c,
                "HTTP/1.1 {s} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
        }
        (got, l)
    });
    (format!("http://127.0.0.1:{port}"), h)
}

fn finding(tag: &str) -> Finding {
    let mut f = Finding::new(Category::AddedMaliciousBinaryExecuted, Utc::now());
    f.set_prop(scrun_findings::props::CONTAINER_ID, tag);
    f
}

fn fast() -> WebhookOptions {
    WebhookOptions {
        timeout: Duration::from_secs(5),
        retries: 3,
        backoff: Duration::from_millis(1),
        queue: 16,
    }
}

/// Nothing else is queued on the listener.
fn no_more_connections(l: &TcpListener) -> bool {
    l.set_nonblocking(true).unwrap();
    matches!(l.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[test]
fn posts_finding_json_with_headers() {
    let (base, srv) = server(vec![204]);
    let sink = WebhookSink::new(&format!("{base}/scc/in?src=scrun"), fast()).unwrap();
    let f = finding("c1");
    sink.emit(&f).unwrap();
    assert!(sink.flush(Duration::from_secs(20)));
    let (reqs, l) = srv.join().unwrap();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.line, "POST /scc/in?src=scrun HTTP/1.1");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("host"), Some(base.trim_start_matches("http://")));
    let back: Finding = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(back, f);
    assert_eq!((sink.delivered(), sink.failed(), sink.dropped()), (1, 0, 0));
    assert!(no_more_connections(&l));
}

#[test]
fn server_down_fails_after_retries() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sink = WebhookSink::new(
        &format!("http://127.0.0.1:{port}/x"),
        WebhookOptions {
            retries: 2,
            ..fast()
        },
    )
    .unwrap();
    sink.emit(&finding("down")).unwrap();
    assert!(sink.flush(Duration::from_secs(20)));
    assert_eq!((sink.delivered(), sink.failed(), sink.dropped()), (0, 1, 0));
}

#[test]
fn retries_5xx_then_delivers() {
    let (base, srv) = server(vec![500, 503, 200]);
    let sink = WebhookSink::new(&format!("{base}/"), fast()).unwrap();
    let f = finding("retry");
    sink.emit(&f).unwrap();
    assert!(sink.flush(Duration::from_secs(20)));
    let (reqs, l) = srv.join().unwrap();
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        assert_eq!(serde_json::from_slice::<Finding>(&r.body).unwrap(), f);
    }
    assert_eq!((sink.delivered(), sink.failed()), (1, 0));
    assert!(no_more_connections(&l));
}

#[test]
fn client_errors_are_not_retried() {
    let (base, srv) = server(vec![400]);
    let sink = WebhookSink::new(&base, fast()).unwrap();
    sink.emit(&finding("bad")).unwrap();
    assert!(sink.flush(Duration::from_secs(20)));
    let (reqs, l) = srv.join().unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!((sink.delivered(), sink.failed()), (0, 1));
    assert!(no_more_connections(&l));
}

#[test]
fn emit_never_blocks_on_a_hung_server_and_drop_is_bounded() {
    // Listening but never accepting: connect succeeds, the answer never comes.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    let sink = WebhookSink::new(
        &url,
        WebhookOptions {
            timeout: Duration::from_secs(600),
            retries: 0,
            backoff: Duration::from_millis(1),
            queue: 1,
        },
    )
    .unwrap();
    let f = finding("flood");
    let start = Instant::now();
    for _ in 0..10_000 {
        sink.emit(&f).unwrap();
    }
    // A blocking emit would wait 600 s for the first answer.
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    // One in flight, one queued at most.
    assert!(sink.dropped() >= 9_998, "dropped {}", sink.dropped());
    assert_eq!(sink.delivered(), 0);
    let start = Instant::now();
    drop(sink);
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn drop_delivers_what_is_queued() {
    let (base, srv) = server(vec![200, 200, 200]);
    let sink = WebhookSink::new(&base, fast()).unwrap();
    for i in 0..3 {
        sink.emit(&finding(&format!("q{i}"))).unwrap();
    }
    drop(sink);
    let (reqs, _l) = srv.join().unwrap();
    let tags: Vec<String> = reqs
        .iter()
        .map(|r| {
            serde_json::from_slice::<Finding>(&r.body)
                .unwrap()
                .prop_str(scrun_findings::props::CONTAINER_ID)
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(tags, ["q0", "q1", "q2"]);
}

#[test]
fn https_is_refused_with_advice() {
    let err = WebhookSink::new("https://siem.example/x", WebhookOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("use an http endpoint or a local relay"),
        "{err}"
    );
}
