//! Conditional GET: a strong `ETag` from the body, `304` for a matching `If-None-Match`,
//! and `Cache-Control` matching how long the service itself reuses the answer.
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};

use actix_web::http::header::{
    self, CacheControl, CacheDirective, EntityTag, Header, HeaderValue, IfNoneMatch,
};
use actix_web::http::StatusCode;
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

    /// The `ETag` header value (for a benchmark's bare endpoint that must send the same bytes).
    pub fn etag(&self) -> &HeaderValue {
        &self.header
    }
}

/// A JSON body with validators; `304 Not Modified` without the body when the client has it.
/// Takes the cached body by reference: the bytes and the header values are shared, not
/// copied, and the headers go straight into the response (the builder's checks and the
/// `Content-Type` parsed from text were a measurable part of a cached hit).
pub fn json_with_etag(request: &HttpRequest, tagged: &Tagged, max_age: Duration) -> HttpResponse {
    let mut response = if client_has(request, &tagged.tag) {
        HttpResponse::new(StatusCode::NOT_MODIFIED)
    } else {
        let mut response = HttpResponse::with_body(StatusCode::OK, shared(&tagged.body));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, tagged.header.clone());
    headers.insert(header::CACHE_CONTROL, cache_control_value(max_age));
    response
}

/// The most of a shared body handed to a connection at a time.
const SLICE: usize = 8 * 1024;

/// A cached body handed out without a copy per connection: a small one whole; a larger one in
/// slices of the shared bytes, so a connection copies at most its write buffer's worth into its
/// own buffer, not the whole answer, and a client that does not read holds only that much.
/// `Content-Length` is the same either way.
fn shared(body: &Bytes) -> BoxBody {
    if body.len() <= SLICE {
        BoxBody::new(body.clone())
    } else {
        BoxBody::new(Sliced(body.clone()))
    }
}

/// The bytes left to send, handed out [`SLICE`] at a time.
struct Sliced(Bytes);

impl MessageBody for Sliced {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.0.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let rest = &mut self.get_mut().0;
        if rest.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(rest.split_to(rest.len().min(SLICE)))))
    }
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

/// [`cache_control`] as a header value, formatted once for the service's one `cache.ttl`
/// (formatting it was a measurable part of a cached hit) and again only for another value.
fn cache_control_value(max_age: Duration) -> HeaderValue {
    static FORMATTED: OnceLock<(Duration, HeaderValue)> = OnceLock::new();
    let format = |max_age| {
        HeaderValue::from_str(&cache_control(max_age).to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
    };
    let (formatted_for, value) = FORMATTED.get_or_init(|| (max_age, format(max_age)));
    if *formatted_for == max_age {
        value.clone()
    } else {
        format(max_age)
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
    fn a_large_body_is_handed_out_in_slices_of_the_shared_bytes_with_its_whole_length() {
        let body = Bytes::from(vec![b'x'; 2 * SLICE + 100]);
        let mut sliced = Sliced(body.clone());
        assert_eq!(sliced.size(), BodySize::Sized(body.len() as u64));

        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut parts = Vec::new();
        while let Poll::Ready(Some(Ok(part))) = Pin::new(&mut sliced).poll_next(&mut cx) {
            parts.push(part);
        }

        let lengths: Vec<usize> = parts.iter().map(Bytes::len).collect();
        assert_eq!(lengths, [SLICE, SLICE, 100]);
        assert_eq!(parts[0].as_ptr(), body.as_ptr(), "a slice, not a copy");
        assert_eq!(parts.concat(), body);
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
