//! What sdnctl adds to a server's refusal so the next step is clear: the current digest after
//! a digest conflict (read again from the server) with the command to retry.

use serde_json::Value;

use crate::client::{ApiPath, Client, ClientError, Method};

/// Whether `err` is the server refusing a change because of its `digest` parameter: the
/// reference's "detected modified configuration" (409) or a 400 naming `digest`.
pub fn is_digest_conflict(err: &ClientError) -> bool {
    match err {
        ClientError::Refused {
            status: 409,
            message,
            ..
        } => message.contains("detected modified configuration") || message.contains("digest"),
        ClientError::Refused {
            status: 400,
            errors,
            ..
        } => errors.contains_key("digest"),
        _ => false,
    }
}

/// The digest the server has now for what `path` names: the object's own, else (a list, or an
/// object gone meanwhile) the one of the list it is in.
pub fn current_digest(client: &Client, path: &ApiPath) -> Option<String> {
    let digest_of = |value: &Value| -> Option<String> {
        let item = match value {
            Value::Array(items) => items.first()?,
            other => other,
        };
        item.get("digest")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if let Some(digest) = client
        .call(Method::Get, path, &[])
        .ok()
        .as_ref()
        .and_then(digest_of)
    {
        return Some(digest);
    }
    let parent = path.as_str().rsplit_once('/').map(|(parent, _)| parent)?;
    let parent: ApiPath = parent.parse().ok()?;
    client
        .call(Method::Get, &parent, &[])
        .ok()
        .as_ref()
        .and_then(digest_of)
}

/// Quotes `word` for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command to run again with `digest` instead of the stale one (the lock token left out: it
/// is a secret, and the kept one or `--lock-token` supplies it).
pub fn retry_command(
    method: Method,
    path: &ApiPath,
    params: &[(String, String)],
    digest: &str,
) -> String {
    let mut words = vec![
        "sdnctl".to_string(),
        method.verb().to_string(),
        shell_word(path.as_str()),
    ];
    for (name, value) in params {
        if name == "digest" || name == "lock-token" {
            continue;
        }
        words.push(format!("--{name}"));
        words.push(shell_word(value));
    }
    words.push("--digest".to_string());
    words.push(shell_word(digest));
    words.join(" ")
}

/// The hint for a digest conflict on `method path`: the current digest, read again, and how
/// to retry; `None` when `err` is not a digest conflict.
pub fn digest_conflict(
    client: &Client,
    method: Method,
    path: &ApiPath,
    params: &[(String, String)],
    err: &ClientError,
) -> Option<String> {
    if !is_digest_conflict(err) {
        return None;
    }
    Some(match current_digest(client, path) {
        Some(digest) => format!(
            "the current digest is {digest}: someone changed the configuration since you read it; \
             see what is there now with `sdnctl get {}`, then retry with: {}",
            shell_word(path.as_str()),
            retry_command(method, path, params, &digest)
        ),
        None => format!(
            "read it again with `sdnctl get {}` and retry with the digest it shows",
            shell_word(path.as_str())
        ),
    })
}

/// The hint for a delete refused because other objects still use the target (the server names
/// them all): what has to happen first.
pub fn in_use(err: &ClientError) -> Option<&'static str> {
    match err {
        ClientError::Refused { status: 409, message, .. } if message.contains(" is used by vnet") => {
            Some("delete those vnets or move them to another zone first (sdnctl set /cluster/sdn/vnets/VNET --zone OTHER)")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn refused(status: u16, message: &str, errors: &[(&str, &str)]) -> ClientError {
        ClientError::Refused {
            remote: "a".into(),
            status,
            message: message.into(),
            errors: errors
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn digest_conflicts_are_recognised_and_nothing_else() {
        assert!(is_digest_conflict(&refused(
            409,
            "detected modified configuration - file changed by other user? Try again.",
            &[]
        )));
        assert!(is_digest_conflict(&refused(
            400,
            "Parameter verification failed.",
            &[("digest", "type check ('string') failed")]
        )));
        assert!(!is_digest_conflict(&refused(
            409,
            "zone z1 is used by vnet v1",
            &[]
        )));
        assert!(!is_digest_conflict(&refused(
            400,
            "Parameter verification failed.",
            &[("mtu", "out of range")]
        )));
    }

    #[test]
    fn the_retry_command_replaces_the_digest_and_leaves_the_token_out() {
        let path: ApiPath = "/cluster/sdn/zones/z1".parse().unwrap();
        let params = vec![
            ("mtu".to_string(), "1400".to_string()),
            ("digest".to_string(), "old".to_string()),
            ("lock-token".to_string(), "secret".to_string()),
            ("nodes".to_string(), "a b".to_string()),
        ];
        assert_eq!(
            retry_command(Method::Set, &path, &params, "new"),
            "sdnctl set /cluster/sdn/zones/z1 --mtu 1400 --nodes 'a b' --digest new"
        );
    }
}
