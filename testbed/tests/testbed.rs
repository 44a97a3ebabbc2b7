//! Drives `lps target` in-process over loopback: every route, the counters, the arrival log,
//! `/pause`, the journey routes and their counters, h2c with prior knowledge, port 0 and bind
//! errors.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lps_testbed::probe::{Conn, Response};
use lps_testbed::{self as target, TargetHandle, TargetOptions};

fn start(threads: usize, record_arrivals: bool) -> TargetHandle {
    target::spawn(TargetOptions {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        threads,
        record_arrivals,
    })
    .expect("target starts on a free loopback port")
}

/// A keep-alive connection whose every response must be framed by
/// `content-length` (no chunking), as the target frames them.
struct H1(Conn);

impl H1 {
    fn connect(addr: SocketAddr) -> Self {
        H1(Conn::connect(addr).expect("connect to target"))
    }

    fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, b"")
    }

    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> Response {
        self.send(method, path, &[], body)
    }

    /// A request with header lines (`"Authorization: Bearer x"`).
    fn send(&mut self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Response {
        let reply = self
            .0
            .request(method, path, headers, body)
            .expect("a whole HTTP/1.1 response");
        assert!(reply.header("transfer-encoding").is_none(), "{reply:?}");
        assert!(
            reply.header("content-length").is_some() || reply.status == 204 || reply.status == 304,
            "no content-length: {reply:?}"
        );
        reply
    }
}

fn get(addr: SocketAddr, path: &str) -> Response {
    H1::connect(addr).get(path)
}

fn stats_of(addr: SocketAddr) -> serde_json::Value {
    get(addr, "/stats").json().expect("/stats is JSON")
}

/// Waits until the target has counted a request to `/delay`: one is in flight.
fn wait_for_delay_request(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats_of(addr)["by_path"]["/delay"].as_u64().unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "no /delay request arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn port_zero_gives_a_real_port() {
    let target = start(2, false);
    let addr = target.local_addr();
    assert_ne!(addr.port(), 0);
    assert!(addr.ip().is_loopback());
    assert_eq!(target.threads(), 2);
    assert_eq!(get(addr, "/").status, 200);
    target.stop();
}

#[test]
fn hello_world() {
    let target = start(1, false);
    let reply = H1::connect(target.local_addr()).get("/");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"hello world");
    assert_eq!(reply.header("content-length"), Some("11"));
    assert_eq!(reply.header("content-type"), Some("text/plain"));
}

#[test]
fn status_codes() {
    let target = start(1, false);
    let mut c = H1::connect(target.local_addr());
    for code in [200, 201, 302, 404, 429, 500, 503, 599, 999] {
        let reply = c.get(&format!("/status/{code}"));
        assert_eq!(reply.status, code);
        assert!(reply.header("content-length").is_some());
    }
    let reply = c.get("/status/503");
    assert_eq!(reply.text(), "Service Unavailable");
    let reply = c.get("/status/204");
    assert_eq!((reply.status, reply.body.len()), (204, 0));
    for bad in [
        "/status/99",
        "/status/100",
        "/status/1000",
        "/status/abc",
        "/status/",
    ] {
        assert_eq!(c.get(bad).status, 400, "{bad}");
    }
    // The connection survived every answer above.
    assert_eq!(c.get("/").status, 200);
}

#[test]
fn not_found() {
    let target = start(1, false);
    let mut c = H1::connect(target.local_addr());
    for path in ["/nope", "/echo/", "/status", "/delay", "/index.html"] {
        assert_eq!(c.get(path).status, 404, "{path}");
    }
}

#[test]
fn delay_waits_at_least_the_delay() {
    let target = start(1, false);
    let mut c = H1::connect(target.local_addr());
    let started = Instant::now();
    let reply = c.get("/delay/200");
    let took = started.elapsed();
    assert_eq!(reply.status, 200);
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(c.get("/delay/0").status, 200);
    assert_eq!(c.get("/delay/x").status, 400);
    assert_eq!(c.get("/delay/3600001").status, 400);
}

#[test]
fn bytes_sends_exactly_n() {
    let target = start(1, false);
    let mut c = H1::connect(target.local_addr());
    for n in [0usize, 1, 5, 65_535, 65_536, 65_537, 1_000_000] {
        let reply = c.get(&format!("/bytes/{n}"));
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body.len(), n);
        assert_eq!(reply.header("content-length"), Some(n.to_string().as_str()));
        assert!(reply.body.iter().all(|&b| b == b'x'));
    }
    assert_eq!(c.get("/bytes/67108865").status, 400);
    assert_eq!(c.get("/bytes/-1").status, 400);
}

#[test]
fn echo_round_trips_the_body() {
    let target = start(1, false);
    let mut c = H1::connect(target.local_addr());
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for method in ["POST", "PUT", "PATCH"] {
        let reply = c.request(method, "/echo", &body);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, body, "{method}");
    }
    let reply = c.get("/echo");
    assert_eq!((reply.status, reply.body.len()), (200, 0));
}

#[test]
fn stats_count_exactly_what_was_sent() {
    let target = start(2, false);
    let addr = target.local_addr();
    assert_eq!(get(addr, "/stats/reset").status, 200);

    // Several connections, spread over both threads by the kernel.
    let mut sent = 0;
    for _ in 0..6 {
        let mut c = H1::connect(addr);
        for path in [
            "/",
            "/",
            "/status/500",
            "/bytes/3",
            "/nope",
            "/delay/1",
            "/status/1",
        ] {
            c.get(path);
            sent += 1;
        }
        c.request("POST", "/echo", b"abc");
        sent += 1;
        // Control routes on the same connection are not counted.
        c.get("/stats");
        c.get("/pause/0");
    }

    let stats = stats_of(addr);
    assert_eq!(stats["requests"], sent);
    // Six load connections, the `/stats` connection; the reset connection predates the reset.
    assert_eq!(stats["connections"], 7);
    assert_eq!(stats["threads"], 2);
    let by_path = &stats["by_path"];
    assert_eq!(by_path["/"], 12);
    assert_eq!(by_path["/status"], 12);
    assert_eq!(by_path["/bytes"], 6);
    assert_eq!(by_path["/delay"], 6);
    assert_eq!(by_path["/echo"], 6);
    assert_eq!(by_path["other"], 6);
    assert!(stats.get("arrivals_us").is_none(), "{stats}");

    assert_eq!(get(addr, "/stats/reset").status, 200);
    let stats = stats_of(addr);
    assert_eq!(stats["requests"], 0);
    assert_eq!(stats["connections"], 1);
}

#[test]
fn stats_sum_concurrent_connections() {
    let target = start(2, false);
    let addr = target.local_addr();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = H1::connect(addr);
                for _ in 0..200 {
                    assert_eq!(c.get("/").status, 200);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client thread");
    }
    let stats = stats_of(addr);
    assert_eq!(stats["requests"], 16 * 200);
    assert_eq!(stats["connections"], 17);
}

#[test]
fn arrivals_are_recorded_in_order() {
    let target = start(2, true);
    let addr = target.local_addr();
    let gap = Duration::from_millis(40);
    let mut c = H1::connect(addr);
    for i in 0..5 {
        if i > 0 {
            // The spacing under test: the log must show it.
            std::thread::sleep(gap);
        }
        c.get("/");
    }
    c.get("/stats");
    c.get("/pause/0");
    let stats = stats_of(addr);
    let arrivals: Vec<u64> = stats["arrivals_us"]
        .as_array()
        .expect("arrivals_us present when recording")
        .iter()
        .map(|v| v.as_u64().expect("µs"))
        .collect();
    assert_eq!(arrivals.len(), 5, "{stats}");
    for pair in arrivals.windows(2) {
        // Each request left only after the previous answer plus the sleep.
        assert!(pair[1] - pair[0] >= gap.as_micros() as u64, "{arrivals:?}");
    }

    get(addr, "/stats/reset");
    let stats = stats_of(addr);
    assert_eq!(stats["arrivals_us"], serde_json::json!([]));
}

#[test]
fn pause_holds_requests_until_it_ends() {
    let target = start(2, false);
    let addr = target.local_addr();
    let pause = Duration::from_millis(600);
    // In flight when the pause starts: held past its own 100 ms delay.
    let in_flight = std::thread::spawn(move || {
        let started = Instant::now();
        let reply = get(addr, "/delay/100");
        (reply.status, started.elapsed())
    });
    wait_for_delay_request(addr);

    let started = Instant::now();
    let reply = get(addr, "/pause/600");
    assert_eq!(reply.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "/pause answers at once"
    );

    // Arrives during the pause, on another connection.
    let during = std::thread::spawn(move || {
        let reply = get(addr, "/");
        (reply.status, started.elapsed())
    });
    // Control routes are never paused.
    let stats_started = Instant::now();
    assert_eq!(get(addr, "/stats").status, 200);
    assert!(stats_started.elapsed() < Duration::from_millis(300));

    let (status, took) = during.join().expect("client thread");
    assert_eq!(status, 200);
    assert!(took >= pause, "held {took:?}");
    assert!(took < pause + Duration::from_secs(1), "held {took:?}");
    let (status, took) = in_flight.join().expect("client thread");
    assert_eq!(status, 200);
    assert!(took >= pause, "in-flight held {took:?}");

    // After the pause, answers are immediate again.
    let started = Instant::now();
    assert_eq!(get(addr, "/").status, 200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn reset_cancels_a_pause() {
    let target = start(1, false);
    let addr = target.local_addr();
    get(addr, "/pause/3600000");
    get(addr, "/stats/reset");
    let started = Instant::now();
    assert_eq!(get(addr, "/").status, 200);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn h2c_with_prior_knowledge() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::{Request, Version};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let target = start(1, false);
    let addr = target.local_addr();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2c handshake");
    tokio::spawn(conn);

    let uri = |path: &str| format!("http://{addr}{path}");
    let response = sender
        .send_request(
            Request::get(uri("/"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .expect("h2 GET /");
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "11");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello world");

    // Many concurrent streams on the one connection.
    let requests: Vec<_> = (0..50)
        .map(|i| {
            let mut sender = sender.clone();
            let req = Request::post(uri("/echo"))
                .body(Full::new(Bytes::from(format!("stream {i}"))))
                .unwrap();
            tokio::spawn(async move {
                let response = sender.send_request(req).await.expect("h2 POST /echo");
                assert_eq!(response.status(), 200);
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body, format!("stream {i}"));
            })
        })
        .collect();
    for r in requests {
        r.await.expect("stream task");
    }

    let response = sender
        .send_request(
            Request::get(uri("/bytes/200000"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), 200_000);

    let response = sender
        .send_request(
            Request::get(uri("/stats"))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let stats: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(stats["requests"], 52);
    assert_eq!(stats["connections"], 1);

    // `stop` blocks the thread; keep it off this runtime's only worker.
    tokio::task::spawn_blocking(move || target.stop())
        .await
        .unwrap();
}

#[test]
fn address_in_use_is_an_error_naming_the_address() {
    let first = start(2, false);
    let addr = first.local_addr();
    let err = target::spawn(TargetOptions {
        listen: addr,
        threads: 1,
        record_arrivals: false,
    })
    .expect_err("a second target cannot share the port");
    assert!(format!("{err:#}").contains(&addr.to_string()), "{err:#}");
    // The first target is untouched.
    assert_eq!(get(addr, "/").status, 200);

    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = plain.local_addr().unwrap();
    let err = target::spawn(TargetOptions {
        listen: taken,
        threads: 1,
        record_arrivals: false,
    })
    .expect_err("port held by another listener");
    assert!(format!("{err:#}").contains(&taken.to_string()), "{err:#}");
}

#[test]
fn non_local_address_is_an_error() {
    // TEST-NET-1: never assigned to a local interface.
    let addr: SocketAddr = "192.0.2.1:0".parse().unwrap();
    let err = target::spawn(TargetOptions {
        listen: addr,
        threads: 1,
        record_arrivals: false,
    })
    .expect_err("cannot bind a foreign address");
    assert!(format!("{err:#}").contains("192.0.2.1:0"), "{err:#}");
}

#[test]
fn stop_is_prompt_and_closes_the_port() {
    let target = start(2, false);
    let addr = target.local_addr();
    // An idle keep-alive connection and a request still in flight.
    let mut idle = H1::connect(addr);
    assert_eq!(idle.get("/").status, 200);
    let slow = std::thread::spawn(move || {
        let mut c = Conn::connect(addr).expect("connect to target");
        c.send("GET", "/delay/5000", &[], b"").expect("send");
        let mut buf = [0u8; 256];
        // Either the connection is closed (0 or an error) or an answer arrives; not a hang.
        let _ = c.stream().read(&mut buf);
    });
    wait_for_delay_request(addr);

    let started = Instant::now();
    target.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "stop took {took:?}");
    slow.join().expect("slow client");
    // The idle connection was closed by the graceful shutdown.
    let mut buf = [0u8; 16];
    assert_eq!(idle.0.stream().read(&mut buf).unwrap_or(0), 0);
    assert!(
        TcpStream::connect(addr).is_err(),
        "port still open after stop"
    );
}

#[test]
fn dropping_the_handle_stops_the_target() {
    let addr = {
        let target = start(1, false);
        target.local_addr()
    };
    assert!(TcpStream::connect(addr).is_err());
}

/// `POST /login` as `user` (JSON body); the token.
fn login(c: &mut H1, user: &str) -> String {
    let body = serde_json::json!({"user": user, "password": "pw"}).to_string();
    let reply = c.send(
        "POST",
        "/login",
        &["Content-Type: application/json"],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let json = reply.json().expect("login answers JSON");
    json["token"].as_str().expect("a token").to_owned()
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}")
}

#[test]
fn login_issues_a_token_that_opens_the_api() {
    let target = start(1, false);
    let addr = target.local_addr();
    let mut c = H1::connect(addr);

    let reply = c.send(
        "POST",
        "/login",
        &["Content-Type: application/json"],
        br#"{"user": "alice", "password": "secret"}"#,
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let json = reply.json().expect("JSON");
    let token = json["token"].as_str().expect("token").to_owned();
    assert_eq!(json["user"], "alice");
    assert_eq!(json["expiresIn"], 3600);
    assert_eq!(reply.header("x-session"), Some(token.as_str()));
    assert_eq!(
        reply.header("set-cookie"),
        Some(format!("session={token}; Path=/; HttpOnly").as_str())
    );
    // A second login of the same user is a new token; both work.
    let again = login(&mut c, "alice");
    assert_ne!(again, token);

    let me = c.send("GET", "/api/me", &[&bearer(&token)], b"");
    assert_eq!(me.status, 200);
    assert_eq!(me.json().unwrap(), serde_json::json!({"user": "alice"}));
    let items = c.send("GET", "/api/items", &[&bearer(&again)], b"");
    assert_eq!(items.status, 200);
    let items = items.json().unwrap();
    assert_eq!(items.as_array().map(Vec::len), Some(5), "{items}");
    assert_eq!(items[1]["name"], "Mouse");
    let item = c.send("GET", "/api/items/3", &[&bearer(&token)], b"");
    assert_eq!(item.json().unwrap()["name"], "Monitor");
    assert_eq!(
        c.send("GET", "/api/items/9", &[&bearer(&token)], b"")
            .status,
        404
    );
    assert_eq!(
        c.send("GET", "/api/nope", &[&bearer(&token)], b"").status,
        404
    );
    assert_eq!(
        c.send("DELETE", "/api/me", &[&bearer(&token)], b"").status,
        405
    );

    // A form body works as well.
    let form = c.send(
        "POST",
        "/login",
        &["Content-Type: application/x-www-form-urlencoded"],
        b"user=bob+b&password=pw",
    );
    assert_eq!(form.json().unwrap()["user"], "bob b");

    let stats = stats_of(addr);
    assert_eq!(
        stats["journey"]["logins"],
        serde_json::json!({"alice": 2, "bob b": 1})
    );
    assert_eq!(
        stats["journey"]["authorized"],
        serde_json::json!({"alice": 6})
    );
    assert_eq!(stats["journey"]["unauthorized"], 0);
    assert_eq!(stats["by_path"]["/login"], 3);
    assert_eq!(stats["by_path"]["/api"], 6);
}

#[test]
fn the_api_refuses_requests_without_an_issued_token() {
    let target = start(1, false);
    let addr = target.local_addr();
    let mut c = H1::connect(addr);
    let token = login(&mut c, "alice");
    // A token of another target: same format, other keys.
    let other = start(1, false);
    let foreign = login(&mut H1::connect(other.local_addr()), "alice");

    let refused: [&[&str]; 5] = [
        &[],
        &["Authorization: Bearer nope"],
        &[&format!("Authorization: Basic {token}")],
        &[&format!("Authorization: Bearer {token}x")],
        &[&format!("Authorization: Bearer {foreign}")],
    ];
    for headers in refused {
        let reply = c.send("GET", "/api/me", headers, b"");
        assert_eq!(reply.status, 401, "{headers:?}");
        assert_eq!(
            reply.json().unwrap(),
            serde_json::json!({"error": "unauthorized"})
        );
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    // The scheme is read in any case.
    let lower = format!("authorization: bearer {token}");
    assert_eq!(c.send("GET", "/api/me", &[&lower], b"").status, 200);

    // Logins without a user are refused and not counted.
    for body in [&br#"{"password": "x"}"#[..], b"password=x", b"{broken"] {
        assert_eq!(c.send("POST", "/login", &[], body).status, 400);
    }
    assert_eq!(c.get("/login").status, 405);

    let journey = &stats_of(addr)["journey"];
    assert_eq!(journey["unauthorized"], 5);
    assert_eq!(journey["authorized"], serde_json::json!({"alice": 1}));
    assert_eq!(journey["logins"], serde_json::json!({"alice": 1}));
}

#[test]
fn each_client_is_counted_as_its_own_user() {
    let target = start(2, false);
    let addr = target.local_addr();
    let clients: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = H1::connect(addr);
                let token = login(&mut c, &format!("user{i}"));
                for _ in 0..=i {
                    let reply = c.send("GET", "/api/me", &[&bearer(&token)], b"");
                    assert_eq!(reply.json().unwrap()["user"], format!("user{i}"));
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    let journey = &stats_of(addr)["journey"];
    for i in 0..8u64 {
        let user = format!("user{i}");
        assert_eq!(journey["logins"][&user], 1, "{journey}");
        assert_eq!(journey["authorized"][&user], i + 1, "{journey}");
    }
    assert_eq!(journey["authorized"].as_object().unwrap().len(), 8);
}

#[test]
fn cart_and_checkout_are_counted_per_item() {
    let target = start(1, false);
    let addr = target.local_addr();
    let mut c = H1::connect(addr);
    let auth = bearer(&login(&mut c, "carol"));
    let headers = [auth.as_str(), "Content-Type: application/json"];

    let mut carts = Vec::new();
    for (item, quantity) in [(1, 2), (3, 1), (1, 5)] {
        let body = serde_json::json!({"itemId": item, "quantity": quantity}).to_string();
        let reply = c.send("POST", "/api/cart", &headers, body.as_bytes());
        assert_eq!(reply.status, 201, "{}", reply.text());
        let json = reply.json().unwrap();
        assert_eq!(
            (json["itemId"].as_u64(), json["quantity"].as_u64()),
            (Some(item), Some(quantity))
        );
        carts.push(json["cartId"].as_str().expect("cartId").to_owned());
    }
    let unique: std::collections::HashSet<_> = carts.iter().collect();
    assert_eq!(unique.len(), 3, "cart ids are unique: {carts:?}");
    // An id given as a string (a quoted template) counts as the number.
    let reply = c.send("POST", "/api/cart", &headers, br#"{"itemId": "3"}"#);
    assert_eq!(
        (reply.status, reply.json().unwrap()["quantity"].as_u64()),
        (201, Some(1))
    );
    // Refused lines are not counted.
    assert_eq!(
        c.send("POST", "/api/cart", &headers, br#"{"itemId": 42}"#)
            .status,
        404
    );
    assert_eq!(
        c.send("POST", "/api/cart", &headers, br#"{"quantity": 1}"#)
            .status,
        400
    );
    assert_eq!(
        c.send("POST", "/api/cart", &headers, b"not json").status,
        400
    );
    assert_eq!(c.send("GET", "/api/cart", &headers, b"").status, 405);

    let first = c.send("POST", "/api/checkout", &headers, b"{}");
    assert_eq!(first.status, 200);
    let first = first.json().unwrap();
    assert_eq!(first["status"], "confirmed");
    let second = c
        .send("POST", "/api/checkout", &headers, b"")
        .json()
        .unwrap();
    assert_ne!(first["orderId"], second["orderId"]);
    assert!(first["orderId"].is_string(), "{first}");

    let journey = &stats_of(addr)["journey"];
    assert_eq!(journey["cart"], serde_json::json!({"1": 2, "3": 2}));
    assert_eq!(journey["checkouts"], 2);
    assert_eq!(journey["authorized"], serde_json::json!({"carol": 10}));
}

#[test]
fn tags_are_counted_url_decoded_for_any_method() {
    let target = start(2, false);
    let addr = target.local_addr();
    let mut c = H1::connect(addr);
    for path in [
        "/tag/prod",
        "/tag/prod",
        "/tag/a%20b%2Fc",
        "/tag/row/7",
        "/tag/",
    ] {
        let reply = c.get(path);
        assert_eq!(reply.status, 200, "{path}");
    }
    assert_eq!(c.request("POST", "/tag/prod", b"ignored").status, 200);
    assert_eq!(c.request("PUT", "/tag/%C3%A9t%C3%A9", b"").status, 200);
    assert_eq!(
        c.get("/tag/prod").json().unwrap(),
        serde_json::json!({"tag": "prod"})
    );
    assert_eq!(c.get("/tag/%zz").status, 400);

    let stats = stats_of(addr);
    assert_eq!(
        stats["journey"]["tags"],
        serde_json::json!({"prod": 4, "a b/c": 1, "row/7": 1, "": 1, "été": 1})
    );
    assert_eq!(stats["by_path"]["/tag"], 9);
}

#[test]
fn data_documents_have_their_content_types() {
    let target = start(1, false);
    let mut c = H1::connect(target.local_addr());
    let csv = c.get("/data/users.csv");
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv"));
    let text = csv.text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("user,password,email"));
    assert_eq!(lines.next(), Some("alice,alice-pw,alice@example.com"));
    let xml = c.get("/data/items.xml");
    assert_eq!(xml.status, 200);
    assert_eq!(xml.header("content-type"), Some("application/xml"));
    assert!(xml.text().starts_with("<?xml"), "{}", xml.text());
    assert!(
        xml.text()
            .contains("<item id=\"1\"><name>Keyboard</name><price>49.99</price>"),
        "{}",
        xml.text()
    );
    assert_eq!(c.get("/data/nope.csv").status, 404);
    assert_eq!(stats_of(target.local_addr())["by_path"]["/data"], 2);
}

#[test]
fn reset_clears_the_journey_counters_but_not_the_tokens() {
    let target = start(1, false);
    let addr = target.local_addr();
    let empty = serde_json::json!({
        "logins": {}, "authorized": {}, "unauthorized": 0, "cart": {}, "checkouts": 0,
        "tags": {}, "dropped": 0,
    });
    assert_eq!(stats_of(addr)["journey"], empty);

    let mut c = H1::connect(addr);
    let auth = bearer(&login(&mut c, "dave"));
    c.send("POST", "/api/cart", &[&auth], br#"{"itemId": 2}"#);
    c.send("POST", "/api/checkout", &[&auth], b"");
    c.get("/api/me");
    c.get("/tag/x");
    assert_ne!(stats_of(addr)["journey"], empty);

    assert_eq!(get(addr, "/stats/reset").status, 200);
    let stats = stats_of(addr);
    assert_eq!(stats["journey"], empty);
    assert_eq!(stats["requests"], 0);
    assert_eq!(c.send("GET", "/api/me", &[&auth], b"").status, 200);
    assert_eq!(
        stats_of(addr)["journey"]["authorized"],
        serde_json::json!({"dave": 1})
    );
}

#[test]
fn the_store_fixture_carts_logs_in_and_counts_authorized_cart_updates() {
    let target = start(1, false);
    let addr = target.local_addr();
    let mut c = H1::connect(addr);
    let json = ["Content-Type: application/json"];

    let products = c.get("/products");
    assert_eq!(products.status, 200);
    let products = products.json().expect("JSON");
    let cheap: Vec<u64> = products
        .as_array()
        .expect("a list")
        .iter()
        .filter(|p| p["price"].as_f64().is_some_and(|price| price < 50.0))
        .map(|p| p["id"].as_u64().expect("an id"))
        .collect();
    assert_eq!(cheap, [2, 4, 5, 7]);
    assert_eq!(c.get("/products/4").json().unwrap()["title"], "Silver Ring");
    assert_eq!(c.get("/products/99").status, 404);

    let cart = c.send(
        "POST",
        "/carts",
        &json,
        br#"{"userId": 1, "products": [{"productId": 2, "quantity": 1}, {"productId": 4, "quantity": 2}]}"#,
    );
    assert_eq!(cart.status, 200, "{}", cart.text());
    let cart = cart.json().unwrap();
    assert_eq!(cart["id"], 11);
    assert_eq!(cart["products"][1]["quantity"], 2);
    assert_eq!(c.send("POST", "/carts", &json, b"{not json").status, 400);
    assert_eq!(c.get("/carts").status, 405);

    let login = c.send(
        "POST",
        "/auth/login",
        &json,
        br#"{"username": "mor_2314", "password": "pw"}"#,
    );
    assert_eq!(login.status, 200);
    let token = login.json().unwrap()["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let no_password = br#"{"username": "mor_2314"}"#;
    assert_eq!(
        c.send("POST", "/auth/login", &json, no_password).status,
        400
    );

    let update = br#"{"userId": 1, "totalQuantity": 3}"#;
    let auth = bearer(&token);
    let put = c.send("PUT", "/carts/11", &[json[0], &auth], update);
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.json().unwrap()["id"], 11);
    assert_eq!(put.json().unwrap()["totalQuantity"], 3);
    let anonymous = c.send("PATCH", "/carts/11", &json, update);
    assert_eq!(anonymous.status, 200);
    let forged = bearer("6d6f72.1.0000000000000000");
    let put = c.send("PUT", "/carts/11", &[json[0], &forged], update);
    assert_eq!(put.status, 200);

    let fixtures = &stats_of(addr)["fixtures"];
    assert_eq!(fixtures["carts"], 1, "{fixtures}");
    assert_eq!(
        fixtures["cart_products"],
        serde_json::json!({"2": 1, "4": 1})
    );
    assert_eq!(fixtures["logins"], serde_json::json!({"mor_2314": 1}));
    assert_eq!(fixtures["cart_updates"], 3, "{fixtures}");
    assert_eq!(fixtures["cart_updates_authorized"], 1, "{fixtures}");
    assert_eq!(fixtures["requests"]["PUT /carts/11"], 2, "{fixtures}");
    assert_eq!(
        fixtures["headers"][&format!("authorization: Bearer {token}")],
        1
    );
}

#[test]
fn the_placeholder_fixture_serves_users_and_what_they_own() {
    let target = start(1, false);
    let addr = target.local_addr();
    let mut c = H1::connect(addr);

    let users = c.get("/users").json().expect("JSON");
    let users = users.as_array().expect("a list");
    assert_eq!(users.len(), 10);
    assert_eq!(users[0]["username"], "Bret");
    assert_eq!(users[0]["company"]["name"], "Romaguera-Crona");
    assert_eq!(users[9]["id"], 10);
    assert_eq!(c.get("/users/1").json().unwrap(), users[0]);
    let missing = c.get("/users/11");
    assert_eq!((missing.status, missing.text().as_str()), (404, "{}"));
    let todos = c.get("/users/1/todos").json().unwrap();
    assert_eq!(todos.as_array().map(Vec::len), Some(4));
    assert!(todos.as_array().unwrap().iter().all(|t| t["userId"] == 1));
    assert_eq!(c.get("/users/2/albums").json().unwrap()[0]["id"], 4);
    assert_eq!(c.get("/users/3/posts").json().unwrap()[0]["userId"], 3);
    assert_eq!(c.get("/users/11/albums").status, 404);
    assert_eq!(
        c.get("/posts").json().unwrap().as_array().map(Vec::len),
        Some(20)
    );
    assert_eq!(c.get("/posts/2").json().unwrap()["id"], 2);
    assert_eq!(c.send("DELETE", "/users/1", &[], b"").status, 405);

    let echoed = c.send("POST", "/post", &[], br#"{"a": 1}"#).json().unwrap();
    assert_eq!(echoed["json"]["a"], 1);
    assert_eq!(echoed["data"], r#"{"a": 1}"#);

    let host = c.send(
        "GET",
        "/hosts/dev.api.example.com/users?x=1",
        &["X-Timeout: 15", "Username: dev"],
        b"",
    );
    assert_eq!(
        host.json().unwrap(),
        serde_json::json!({"host": "dev.api.example.com", "path": "/users", "method": "GET"})
    );

    let stats = stats_of(addr);
    let fixtures = &stats["fixtures"];
    assert_eq!(fixtures["requests"]["GET /users/1"], 1, "{fixtures}");
    assert_eq!(
        fixtures["requests"]["GET /hosts/dev.api.example.com/users"],
        1
    );
    assert_eq!(
        fixtures["headers"],
        serde_json::json!({"x-timeout: 15": 1, "username: dev": 1})
    );
    // Every fixture request is counted once under `fixtures` (the two
    // unparsable paths are not fixtures: 404, `other`).
    assert_eq!(stats["by_path"]["fixtures"], 12, "{stats}");
    assert_eq!(get(addr, "/users/x").status, 404);
    assert_eq!(stats_of(addr)["by_path"]["other"], 1);

    get(addr, "/stats/reset");
    let fixtures = &stats_of(addr)["fixtures"];
    assert_eq!(fixtures["requests"], serde_json::json!({}));
    assert_eq!(fixtures["headers"], serde_json::json!({}));
}
