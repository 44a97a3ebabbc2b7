//! The snapshots the fake workers send: real engine stats of every core of
//! a worker merged, as a real worker merges them, encoded by lps's own wire
//! encoder (HdrHistogram V2 + deflate), built once per variant.

use std::time::Duration;

use lps_engine::{ErrorKind, Snapshot, Stats};
use lps_proto as proto;

/// Status codes and their share in a thousand responses.
const STATUSES: [(u16, u64); 3] = [(200, 970), (404, 20), (500, 10)];
/// Connections a core opens in its first second (then none: keep-alive).
const CONNECTS: u64 = 8;

/// The wire forms to send, and what they carry.
pub struct Payload {
    variants: Vec<proto::Snapshot>,
    /// Requests in each variant, in the same order.
    requests: Vec<u64>,
}

impl Payload {
    /// `variants` snapshots of a worker of `cores` cores, as a worker sends
    /// them: each the exact merge of `cores` core seconds, each of
    /// `iterations` iterations whose latency histogram holds `distinct`
    /// distinct values.
    pub fn build(iterations: usize, distinct: usize, variants: usize, cores: usize) -> Payload {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (variants, cores) = (variants.max(1), cores.max(1));
        // Enough core seconds for each variant to merge its own run of them.
        let seconds: Vec<Vec<Stats>> = (0..variants + cores - 1)
            .map(|_| {
                (0..iterations)
                    .map(|i| iteration(&mut rng, i, distinct))
                    .collect()
            })
            .collect();
        let mut out = Payload {
            variants: Vec::new(),
            requests: Vec::new(),
        };
        for v in 0..variants {
            let mut stats: Vec<Stats> = (0..iterations).map(|_| Stats::new()).collect();
            for core in &seconds[v..v + cores] {
                for (merged, one) in stats.iter_mut().zip(core) {
                    merged.merge(one);
                }
            }
            let snap = Snapshot {
                core: 0,
                seq: 0,
                elapsed: Duration::from_secs(1),
                in_flight: 64 * cores as u64,
                iterations: stats,
                last: false,
            };
            out.requests
                .push(snap.iterations.iter().map(Stats::requests).sum());
            out.variants.push(lps::cluster::encode_snapshot(0, &snap));
        }
        out
    }

    /// The snapshot to send: variant `n` (modulo), as the worker's snapshot
    /// `seq` at `elapsed` of the run; and the requests it carries.
    pub fn snapshot(
        &self,
        n: usize,
        seq: u64,
        elapsed: Duration,
        last: bool,
    ) -> (proto::Snapshot, u64) {
        let i = n % self.variants.len();
        let mut snap = self.variants[i].clone();
        snap.seq = seq;
        snap.elapsed_ms = elapsed.as_millis() as u64;
        snap.last = last;
        let us = snap.elapsed_ms * 1000;
        for it in &mut snap.iterations {
            it.began_us = Some(us.saturating_sub(1_000_000));
            it.ended_us = Some(us);
            // Keep-alive: a core opens its connections in its first second.
            if elapsed > Duration::from_secs(1) {
                it.connect_histogram.clear();
                it.h2_connections = 0;
            }
        }
        (snap, self.requests[i])
    }

    /// Encoded size of the first variant, as prost sends it.
    pub fn bytes_per_snapshot(&self) -> usize {
        prost::Message::encoded_len(&self.variants[0])
    }

    /// Requests of the first variant.
    pub fn requests_per_snapshot(&self) -> u64 {
        self.requests[0]
    }
}

/// One iteration's second on one core: responses until the latency
/// histogram holds `distinct` distinct values (a log-normal spread around a
/// median that differs per iteration), with a few failures and connects.
fn iteration(rng: &mut Rng, index: usize, distinct: usize) -> Stats {
    let mut stats = Stats::new();
    let median = 1500.0 * (1.0 + index as f64 * 0.5);
    let mut n = 0u64;
    loop {
        let latency = (median * (0.6 * rng.normal()).exp()) as u64;
        let roll = rng.below(1000);
        let status = pick_status(roll);
        stats.record_response(status, latency.max(1), 180, 900);
        n += 1;
        if n.is_multiple_of(997) {
            stats.record_error(ErrorKind::Timeout, 180, 0);
        }
        if n.is_multiple_of(256) && distinct_values(&stats) >= distinct {
            break;
        }
    }
    for _ in 0..CONNECTS {
        stats.record_connect(200 + rng.below(800), false);
    }
    stats
}

fn pick_status(roll: u64) -> u16 {
    let mut acc = 0;
    for (code, share) in STATUSES {
        acc += share;
        if roll < acc {
            return code;
        }
    }
    200
}

fn distinct_values(stats: &Stats) -> usize {
    stats.latency.histogram().iter_recorded().count()
}

/// xorshift64*: the same snapshots on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}
