//! The shared state every handler receives: one owner for the store, the
//! clock, the vault and the settings.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use recourse_store::Store;

use crate::clock::Clock;
use crate::config::ServiceConfig;
use crate::identity_provider::IdentityProvider;
use crate::vault::Vault;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Clock,
    pub vault: Vault,
    pub config: Arc<ServiceConfig>,
    pub identity_provider: Arc<dyn IdentityProvider>,
    pub metrics: PrometheusHandle,
}
