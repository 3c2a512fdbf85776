//! Personal data never reaches the logs, even at `trace` for Recourse's own
//! code and `debug` for everything else: a whole journey (registration,
//! verification, card, top-up, transfer, and refused attempts) is logged
//! into memory and searched for the name, identity number, card number,
//! password and phone number.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_journey_logs_no_personal_data() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(recourse_server::logs::filter_from("debug,recourse_server=trace,recourse_store=trace"))
        .with_writer(move || writer.clone())
        .init();
    tracing::info!("capture works");

    for kind in [common::StoreKind::Sqlite, common::StoreKind::Postgres] {
        let Some(app) = common::spawn_app(kind).await else { continue };
        let payer = app.customer(true, 50_000).await;
        let payee = app.customer(false, 0).await;
        assert_eq!(app.transfer(&payer, &payee, 1_000, "log-1").await.status, 201);
        let refused = app.post("/v1/me/verification", Some(&payee.token), json!({"legal_name": "赵钱孙", "id_number": "110105199001010011"})).await;
        assert_eq!(refused.status, 422);
        let wrong = app.post("/v1/sessions", None, json!({"phone": payer.phone, "password": "wrong password"})).await;
        assert_eq!(wrong.status, 401);

        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("capture works") && logs.contains("real-name verification completed"), "logs were captured");
        let id_number = payer.id_number.clone().unwrap();
        let secrets = [payer.legal_name.clone().unwrap(), id_number[..14].to_owned(), "赵钱孙".to_owned(), common::PASSWORD.to_owned(), payer.phone.clone(), payee.phone.clone()];
        for secret in secrets {
            assert!(!logs.contains(&secret), "the logs contain personal data ({kind:?})");
        }
        app.finish().await;
    }
}
