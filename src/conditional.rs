//! Conditional GET: a strong `ETag` from the body, `304` for a matching `If-None-Match`,
//! and `Cache-Control` matching how long the service itself reuses the answer.
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use actix_web::http::header::{
    self, CacheControl, CacheDirective, EntityTag, Header, HeaderValue, IfNoneMatch,
};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};

/// A rendered body and its strong tag, also as a ready header value.
#[derive(Clone)]
pub struct Tagged {
    body: Bytes,
    tag: EntityTag,
    header: HeaderValue,
}

impl Tagged {
    pub fn new(body: Vec<u8>) -> Self {
        let tag = EntityTag::new_strong(format!("{:016x}", fnv1a(&body)));
        let header = HeaderValue::from_str(&tag.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        Tagged {
            body: Bytes::from(body),
            tag,
            header,
        }
    }
}

/// The last body rendered and what it was rendered from. While the cached database answer
/// is unchanged, requests reuse the bytes and the tag instead of formatting them again
/// (formatting the timestamps is most of the cost of a cached Status request).
pub struct RenderedBody<K> {
    last: Mutex<Option<(K, Tagged)>>,
}

impl<K: PartialEq> RenderedBody<K> {
    pub fn new() -> Self {
        RenderedBody {
            last: Mutex::new(None),
        }
    }

    pub fn get_or_render<E>(
        &self,
        source: K,
        render: impl FnOnce(&K) -> Result<Vec<u8>, E>,
    ) -> Result<Tagged, E> {
        if let Some((last_source, tagged)) = &*self.last() {
            if *last_source == source {
                return Ok(tagged.clone());
            }
        }
        let tagged = Tagged::new(render(&source)?);
        *self.last() = Some((source, tagged.clone()));
        Ok(tagged)
    }

    fn last(&self) -> std::sync::MutexGuard<'_, Option<(K, Tagged)>> {
        // Replaced whole, never left half-written.
        self.last.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: PartialEq> Default for RenderedBody<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// A JSON body with validators; `304 Not Modified` without the body when the client has it.
pub fn json_with_etag(request: &HttpRequest, tagged: Tagged, max_age: Duration) -> HttpResponse {
    let cache_control = cache_control(max_age);
    if client_has(request, &tagged.tag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, tagged.header))
            .insert_header(cache_control)
            .finish();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, tagged.header))
        .insert_header(cache_control)
        .body(tagged.body)
}

/// `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"`.
fn client_has(request: &HttpRequest, tag: &EntityTag) -> bool {
    if !request.headers().contains_key(header::IF_NONE_MATCH) {
        return false;
    }
    match IfNoneMatch::parse(request) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(tag)),
        Err(_) => false,
    }
}

fn cache_control(max_age: Duration) -> CacheControl {
    if max_age.is_zero() {
        CacheControl(vec![CacheDirective::NoCache])
    } else {
        CacheControl(vec![CacheDirective::MaxAge(max_age.as_secs() as u32)])
    }
}

/// 64-bit FNV-1a: stable across builds and processes, so every instance behind a load
/// balancer gives the same body the same tag.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_source_reuses_the_rendered_body() {
        let rendered = RenderedBody::new();
        let mut renders = 0;
        let mut render = |source: &u32| -> Result<Vec<u8>, ()> {
            renders += 1;
            Ok(source.to_string().into_bytes())
        };

        let first = rendered.get_or_render(1, &mut render).expect("first");
        let again = rendered.get_or_render(1, &mut render).expect("again");
        let changed = rendered.get_or_render(2, &mut render).expect("changed");

        assert_eq!(renders, 2);
        assert_eq!(
            (first.body.clone(), first.tag.clone()),
            (again.body, again.tag)
        );
        assert_ne!(first.tag, changed.tag);
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn a_ttl_under_a_second_is_max_age_zero_and_no_ttl_is_no_cache() {
        assert_eq!(
            cache_control(Duration::from_millis(5500)).to_string(),
            "max-age=5"
        );
        assert_eq!(
            cache_control(Duration::from_millis(500)).to_string(),
            "max-age=0"
        );
        assert_eq!(cache_control(Duration::ZERO).to_string(), "no-cache");
    }
}
