//! Provider and materializer registries: register, get, list, and validation at start.

use std::sync::Arc;

use crate::materialize::Materializer;
use crate::provider::Provider;

/// A registration or validation failure.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("a {kind} with an empty name cannot be registered")]
    EmptyName { kind: &'static str },
    #[error("a {kind} named '{name}' is already registered")]
    DuplicateName { kind: &'static str, name: String },
    #[error("the {kind} '{name}' names an empty dataset")]
    EmptyDataset { kind: &'static str, name: String },
    #[error("provider '{provider}' feeds dataset '{dataset}', which no registered materializer produces")]
    NoMaterializer { provider: String, dataset: String },
}

/// Providers by name, in registration order.
#[derive(Default, Clone)]
pub struct ProviderRegistry {
    providers: Vec<Arc<dyn Provider>>,
}

impl std::fmt::Debug for ProviderRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl ProviderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a provider; rejects empty names, empty datasets and duplicates.
    pub fn register(&mut self, provider: Arc<dyn Provider>) -> Result<(), RegistryError> {
        let name = provider.name();
        if name.is_empty() {
            return Err(RegistryError::EmptyName { kind: "provider" });
        }
        if provider.dataset().is_empty() {
            return Err(RegistryError::EmptyDataset { kind: "provider", name: name.to_string() });
        }
        if self.get(name).is_some() {
            return Err(RegistryError::DuplicateName { kind: "provider", name: name.to_string() });
        }
        self.providers.push(provider);
        Ok(())
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|provider| provider.name() == name)
    }

    /// All providers in registration order.
    pub fn list(&self) -> &[Arc<dyn Provider>] {
        &self.providers
    }

    /// Names in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|provider| provider.name()).collect()
    }

    /// Checks every provider against the materializers: one error per provider whose dataset has
    /// no materializer. Such a provider must be reported as failed, never run as ok.
    pub fn validate(&self, materializers: &MaterializerRegistry) -> Vec<RegistryError> {
        self.providers
            .iter()
            .filter(|provider| materializers.for_dataset(provider.dataset()).is_none())
            .map(|provider| RegistryError::NoMaterializer {
                provider: provider.name().to_string(),
                dataset: provider.dataset().to_string(),
            })
            .collect()
    }
}

/// Materializers by name, each producing one dataset.
#[derive(Default, Clone)]
pub struct MaterializerRegistry {
    materializers: Vec<Arc<dyn Materializer>>,
}

impl std::fmt::Debug for MaterializerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.materializers.iter().map(|materializer| materializer.name())).finish()
    }
}

impl MaterializerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry with every built-in materializer (`messages`).
    pub fn builtin() -> Self {
        let mut registry = Self::new();
        registry
            .register(Arc::new(crate::materialize::MessagesMaterializer))
            .expect("the built-in materializers have distinct, non-empty names");
        registry
    }

    /// Adds a materializer; rejects empty names, empty datasets, duplicate names and a second
    /// materializer for the same dataset.
    pub fn register(&mut self, materializer: Arc<dyn Materializer>) -> Result<(), RegistryError> {
        let name = materializer.name();
        if name.is_empty() {
            return Err(RegistryError::EmptyName { kind: "materializer" });
        }
        if materializer.dataset().is_empty() {
            return Err(RegistryError::EmptyDataset { kind: "materializer", name: name.to_string() });
        }
        if self.get(name).is_some() || self.for_dataset(materializer.dataset()).is_some() {
            return Err(RegistryError::DuplicateName { kind: "materializer", name: name.to_string() });
        }
        self.materializers.push(materializer);
        Ok(())
    }

    /// The materializer called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Materializer>> {
        self.materializers.iter().find(|materializer| materializer.name() == name)
    }

    /// The materializer producing `dataset`.
    pub fn for_dataset(&self, dataset: &str) -> Option<&Arc<dyn Materializer>> {
        self.materializers.iter().find(|materializer| materializer.dataset() == dataset)
    }

    /// All materializers in registration order.
    pub fn list(&self) -> &[Arc<dyn Materializer>] {
        &self.materializers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceUnit;
    use crate::provider::{
        DiscoverError, Discovery, Environment, ExchangeSink, ParseContext, ParseError, ParseReport, Root,
    };
    use crate::time_window::TimeWindow;

    /// A provider that has a name and a dataset and reads nothing: all the registry looks at.
    struct Named {
        name: String,
        dataset: String,
    }

    impl Provider for Named {
        fn name(&self) -> &str {
            &self.name
        }
        fn dataset(&self) -> &str {
            &self.dataset
        }
        fn description(&self) -> &str {
            "reads nothing"
        }
        fn roots(&self, _env: &Environment) -> Vec<Root> {
            Vec::new()
        }
        fn discover(&self, _env: &Environment, _window: &TimeWindow) -> Result<Discovery, DiscoverError> {
            Ok(Discovery::default())
        }
        fn parse(
            &self,
            _unit: &SourceUnit,
            _context: &ParseContext<'_>,
            _sink: &mut dyn ExchangeSink,
        ) -> Result<ParseReport, ParseError> {
            Ok(ParseReport::default())
        }
    }

    fn provider(name: &str, dataset: &str) -> Arc<dyn Provider> {
        Arc::new(Named { name: name.into(), dataset: dataset.into() })
    }

    #[test]
    fn registers_gets_and_lists_in_order() {
        let mut registry = ProviderRegistry::new();
        registry.register(provider("b", "messages")).unwrap();
        registry.register(provider("a", "messages")).unwrap();
        assert_eq!(registry.names(), ["b", "a"]);
        assert_eq!(registry.get("a").map(|p| p.name()), Some("a"));
        assert!(registry.get("c").is_none());
    }

    #[test]
    fn rejects_duplicate_and_empty_names() {
        let mut registry = ProviderRegistry::new();
        registry.register(provider("a", "messages")).unwrap();
        assert_eq!(
            registry.register(provider("a", "messages")),
            Err(RegistryError::DuplicateName { kind: "provider", name: "a".into() })
        );
        assert_eq!(registry.register(provider("", "messages")), Err(RegistryError::EmptyName { kind: "provider" }));
        assert_eq!(
            registry.register(provider("x", "")),
            Err(RegistryError::EmptyDataset { kind: "provider", name: "x".into() })
        );
        let mut materializers = MaterializerRegistry::builtin();
        let duplicate = materializers.register(Arc::new(crate::materialize::MessagesMaterializer));
        assert_eq!(duplicate, Err(RegistryError::DuplicateName { kind: "materializer", name: "messages".into() }));
    }

    #[test]
    fn validation_names_providers_without_materializer() {
        let mut registry = ProviderRegistry::new();
        registry.register(provider("good", "messages")).unwrap();
        registry.register(provider("orphan", "tokens")).unwrap();
        let errors = registry.validate(&MaterializerRegistry::builtin());
        assert_eq!(errors, [RegistryError::NoMaterializer { provider: "orphan".into(), dataset: "tokens".into() }]);
        assert_eq!(
            errors[0].to_string(),
            "provider 'orphan' feeds dataset 'tokens', which no registered materializer produces"
        );
    }
}
