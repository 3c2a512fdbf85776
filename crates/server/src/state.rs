//! The shared state every handler receives: the application service (store,
//! clock, vault, identity provider, settings) and the metrics handle.

use std::ops::Deref;

use metrics_exporter_prometheus::PrometheusHandle;
use recourse_service::Service;

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub metrics: PrometheusHandle,
}

/// Handlers read `state.store`, `state.clock`, `state.config` … of the service.
impl Deref for AppState {
    type Target = Service;
    fn deref(&self) -> &Service {
        &self.service
    }
}
