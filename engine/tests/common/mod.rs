//! What the engine's integration tests share.

use std::time::Duration;

use lps_config::{HttpRequest, HttpVersion, Iteration, Mode, Plan, Round, Scheme, Target};

/// One client sending `GET /` to 127.0.0.1:`port` in `mode`.
pub fn get_plan(port: u16, mode: Mode) -> Plan {
    Plan {
        name: "test".into(),
        clients: 1,
        rampup: Duration::ZERO,
        delay_client_creation: false,
        run_in_parallel: true,
        rounds: vec![Round {
            name: "r".into(),
            iterations: vec![Iteration {
                name: "i".into(),
                mode,
                maximize_throughput: false,
                request: HttpRequest {
                    method: "GET".into(),
                    target: Target {
                        scheme: Scheme::Http,
                        host: "127.0.0.1".into(),
                        port,
                        path_and_query: "/".into(),
                    },
                    headers: vec![],
                    body: vec![],
                    version: HttpVersion::Http11,
                },
            }],
        }],
    }
}
