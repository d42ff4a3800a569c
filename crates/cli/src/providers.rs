//! Composes the provider registry from the providers compiled in by cargo features.

use std::sync::Arc;

use hindcast_core::provider::Provider;
use hindcast_core::registry::{ProviderRegistry, RegistryError};

/// Every provider hindcast knows of, and the cargo feature that compiles it in.
pub const KNOWN_PROVIDERS: &[(&str, &str)] = &[
    ("claude", "provider-claude"),
    ("codex", "provider-codex"),
    ("gemini", "provider-gemini"),
    ("legacy", "provider-legacy"),
    ("opencode", "provider-opencode"),
];

/// The registry of compiled-in providers, followed by `extra` ones (the testbed's scripted providers).
pub fn compiled_in(extra: &[Arc<dyn Provider>]) -> Result<ProviderRegistry, RegistryError> {
    #[allow(unused_mut)]
    let mut registry = ProviderRegistry::new();
    #[cfg(feature = "provider-claude")]
    hindcast_provider_claude::register(&mut registry)?;
    #[cfg(feature = "provider-codex")]
    hindcast_provider_codex::register(&mut registry)?;
    #[cfg(feature = "provider-gemini")]
    hindcast_provider_gemini::register(&mut registry)?;
    #[cfg(feature = "provider-legacy")]
    hindcast_provider_legacy::register(&mut registry)?;
    #[cfg(feature = "provider-opencode")]
    hindcast_provider_opencode::register(&mut registry)?;
    for provider in extra {
        registry.register(Arc::clone(provider))?;
    }
    Ok(registry)
}

/// The feature that compiles in `name`, when `name` is a provider this build left out.
pub fn missing_feature(name: &str, registry: &ProviderRegistry) -> Option<&'static str> {
    KNOWN_PROVIDERS
        .iter()
        .find(|(known, _)| *known == name && registry.get(name).is_none())
        .map(|(_, feature)| *feature)
}
