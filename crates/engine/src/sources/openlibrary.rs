//! Open Library: a search by title and author, then the work record for a
//! description. Blocking HTTP (jobs run on worker threads), every call
//! through the source's circuit breaker.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use super::breaker::CircuitBreaker;
use crate::config::MetadataConfig;

pub const SOURCE: &str = "openlibrary";

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("{name} is unavailable (circuit open; retry in {retry_in:.0?})")]
    CircuitOpen { name: String, retry_in: Duration },
    #[error("request to {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} answered something that is not the expected JSON: {reason}")]
    Body { url: String, reason: String },
}

/// What Open Library knows about a book.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub year: Option<i32>,
    pub isbn: Option<String>,
    pub description: Option<String>,
    pub cover_url: Option<String>,
}

#[derive(Deserialize)]
struct SearchPage {
    #[serde(default)]
    docs: Vec<SearchDoc>,
}

#[derive(Deserialize)]
struct SearchDoc {
    key: Option<String>,
    first_publish_year: Option<i32>,
    #[serde(default)]
    isbn: Vec<String>,
    cover_i: Option<i64>,
}

#[derive(Deserialize)]
struct Work {
    description: Option<Description>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Description {
    Text(String),
    Typed { value: String },
}

pub struct OpenLibrary {
    agent: ureq::Agent,
    cfg: MetadataConfig,
    breaker: Arc<CircuitBreaker>,
}

/// Bodies larger than this are refused.
const MAX_BODY: u64 = 4 * 1024 * 1024;

impl OpenLibrary {
    pub fn new(cfg: MetadataConfig, breaker: Arc<CircuitBreaker>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .user_agent(concat!(
                "audiobook-organizer/",
                env!("CARGO_PKG_VERSION"),
                " (self-hosted)"
            ))
            .build()
            .into();
        Self {
            agent,
            cfg,
            breaker,
        }
    }

    /// One GET through the breaker; any failure (network, timeout, 5xx,
    /// 429, bad JSON) counts against it, a 404 does not.
    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<T>, SourceError> {
        self.breaker.allow().map_err(|r| SourceError::CircuitOpen {
            name: self.breaker.name().to_string(),
            retry_in: r.retry_in,
        })?;
        let result = (|| {
            let mut req = self.agent.get(url);
            for (k, v) in query {
                req = req.query(*k, *v);
            }
            let mut resp = req.call().map_err(|e| SourceError::Request {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
            let status = resp.status().as_u16();
            if status == 404 {
                return Ok(None);
            }
            if !(200..300).contains(&status) {
                return Err(SourceError::Status {
                    url: url.to_string(),
                    status,
                });
            }
            let text = resp
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_string()
                .map_err(|e| SourceError::Request {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| SourceError::Body {
                    url: url.to_string(),
                    reason: e.to_string(),
                })
        })();
        match &result {
            Ok(_) => self.breaker.record_success(),
            Err(_) => self.breaker.record_failure(),
        }
        result
    }

    /// Looks a book up; `Ok(None)` when Open Library has no match.
    pub fn lookup(&self, title: &str, author: &str) -> Result<Option<Found>, SourceError> {
        let url = format!("{}/search.json", self.cfg.base_url);
        let mut query = vec![
            ("title", title),
            ("limit", "1"),
            ("fields", "key,first_publish_year,isbn,cover_i"),
        ];
        if !author.is_empty() && author != "Unknown Author" {
            query.push(("author", author));
        }
        let Some(page) = self.get_json::<SearchPage>(&url, &query)? else {
            return Ok(None);
        };
        let Some(doc) = page.docs.into_iter().next() else {
            return Ok(None);
        };
        let mut found = Found {
            year: doc.first_publish_year,
            isbn: doc
                .isbn
                .iter()
                .find(|i| i.len() == 13)
                .or(doc.isbn.first())
                .cloned(),
            cover_url: doc
                .cover_i
                .filter(|c| *c > 0)
                .map(|c| format!("{}/b/id/{c}-L.jpg", self.cfg.covers_url)),
            description: None,
        };
        if let Some(key) = doc.key.filter(|k| k.starts_with("/works/")) {
            let url = format!("{}{key}.json", self.cfg.base_url);
            if let Some(work) = self.get_json::<Work>(&url, &[])? {
                found.description = work.description.map(|d| match d {
                    Description::Text(t) | Description::Typed { value: t } => t,
                });
            }
        }
        Ok(Some(found))
    }
}
