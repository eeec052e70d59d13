//! Reading a request's credentials from its headers, for `auth` to check.

use hyper::HeaderMap;

use crate::auth::Credentials;

/// The credentials a request carries: an API token header, or the ticket cookie with the
/// CSRF header.
pub fn from_headers(headers: &HeaderMap) -> Credentials {
    if let Some(value) = headers.get(hyper::header::AUTHORIZATION) {
        return from_authorization(value.to_str().unwrap_or(""));
    }
    let cookie = headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix("PVEAuthCookie=").map(str::to_string));
    match cookie {
        Some(ticket) => Credentials::Ticket {
            ticket: percent_decode_cookie(&ticket),
            csrf: headers.get("CSRFPreventionToken").and_then(|v| v.to_str().ok()).map(str::to_string),
        },
        None => Credentials::None,
    }
}

fn from_authorization(value: &str) -> Credentials {
    let Some(rest) = value.trim().strip_prefix("PVEAPIToken=") else {
        return Credentials::Malformed(
            "unsupported Authorization scheme (expected PVEAPIToken=USER@REALM!TOKENID=SECRET)".into(),
        );
    };
    // USER@REALM!TOKENID=SECRET (older clients used ':' before the secret)
    let Some((full_id, secret)) = rest.split_once(['=', ':']) else {
        return Credentials::Malformed("API token without secret".into());
    };
    let Some((user, token)) = full_id.split_once('!') else {
        return Credentials::Malformed("API token id must be USER@REALM!TOKENID".into());
    };
    Credentials::ApiToken { user: user.to_string(), token: token.to_string(), secret: secret.to_string() }
}

/// Browsers and some clients percent-encode the ticket in the cookie.
fn percent_decode_cookie(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    form_urlencoded::parse(format!("t={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    #[test]
    fn parses_pve_token_header() {
        match from_headers(&headers(&[("authorization", "PVEAPIToken=root@pam!ci=abc-def")])) {
            Credentials::ApiToken { user, token, secret } => {
                assert_eq!((user.as_str(), token.as_str(), secret.as_str()), ("root@pam", "ci", "abc-def"));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(from_headers(&headers(&[("authorization", "Basic xyz")])), Credentials::Malformed(_)));
        assert!(matches!(from_headers(&HeaderMap::new()), Credentials::None));
    }

    #[test]
    fn parses_ticket_cookie_and_csrf() {
        let h = headers(&[("cookie", "a=b; PVEAuthCookie=PVE%3Aalice%40pve%3A0001::ff"), ("csrfpreventiontoken", "0001:ab")]);
        match from_headers(&h) {
            Credentials::Ticket { ticket, csrf } => {
                assert_eq!(ticket, "PVE:alice@pve:0001::ff");
                assert_eq!(csrf.as_deref(), Some("0001:ab"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
